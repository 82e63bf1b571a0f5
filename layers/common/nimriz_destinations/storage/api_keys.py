"""Workspace API keys. Only the SHA-256 of a secret is stored, never the secret itself.

Each key is two items written together in one transaction:
- the lookup item `APIKEY#<hash>` / `APIKEY`, which the authorizer reads by the hash of the presented secret;
- the listing item `APIKEYS#WS#<workspace>` / `KEY#<id>`, which the admin API lists, and where the authorizer
  records `last_used_at` and a rotation the key that `replaced_by` it.

A workspace belongs to the organization its first key names: the item `WS#<workspace>` / `ORGANIZATION` is written
with every new key, on condition that it names the same organization (workspaces whose keys predate it: the
organization of their keys).

Lookup items written before scopes existed have no `key_id` and no `scopes`: they keep working with every scope
(nothing breaks), but have no listing item, so they are neither listed nor revocable through the admin API.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import aws
from ..cache import TTLCache
from ..clock import iso_utc
from ..errors import ConcurrentModification
from ..ids import is_id
from ..observability import logger
from ..scopes import ALL_SCOPES, canonical_scopes
from . import keys
from .records import Workspace

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# `last_used_at` is written at most this often per key, across every authorizer environment.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    workspace_id: str
    organization_id: str
    label: str
    scopes: tuple[str, ...]
    prefix: str  # the secret's first characters, so people can recognise a key; never enough to use it
    key_hash: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None = None
    revoked_at: str | None = None
    replaced_by: str | None = None  # the key a rotation made to replace this one

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> ApiKeyRecord:
        """The inverse of `dataclasses.asdict` after a JSON round trip (scopes come back as a list)."""
        return cls(**{**fields, "scopes": tuple(fields["scopes"])})


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """What the authorizer needs of the key a request presented."""

    id: str
    workspace: Workspace
    scopes: tuple[str, ...]
    expires_at: str | None
    listed: bool  # False for keys stored before the admin API: there is no listing item to record use on

    def expired_at(self, now: str) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class ApiKeyStore:
    def __init__(
        self, table_name: str, *, cache_seconds: float = 60, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._table = table_name
        # Positive and negative lookups are cached briefly: a revoked key stops working within cache_seconds.
        # Expiry is checked on every request against the cached expires_at, so it needs no cache delay.
        self._lookups: TTLCache[AuthenticatedKey | None] = TTLCache(
            max_entries=1024, ttl_seconds=cache_seconds, clock=clock
        )
        # Keys this environment recorded a use of in the last minute: no write for them until it passes.
        self._recent_uses: TTLCache[None] = TTLCache(
            max_entries=1024, ttl_seconds=LAST_USED_RESOLUTION.total_seconds(), clock=clock
        )

    def lookup(self, api_key: str) -> AuthenticatedKey | None:
        key_hash = hash_api_key(api_key)
        return self._lookups.get_or_load(key_hash, lambda: self._read(key_hash))

    def _read(self, key_hash: str) -> AuthenticatedKey | None:
        response = aws.dynamodb().get_item(
            TableName=self._table, Key={"PK": {"S": keys.api_key_pk(key_hash)}, "SK": {"S": keys.API_KEY_SK}}
        )
        item = response.get("Item")
        if not item or "revoked_at" in item or item.get("revoked", {}).get("BOOL"):
            return None
        workspace = Workspace(workspace_id=item["workspace_id"]["S"], organization_id=item["organization_id"]["S"])
        if "key_id" not in item:
            # Stored before scopes existed: every scope, and an id that names the key without revealing it.
            return AuthenticatedKey(f"legacy-{key_hash[:12]}", workspace, ALL_SCOPES, None, listed=False)
        return AuthenticatedKey(
            id=item["key_id"]["S"],
            workspace=workspace,
            scopes=tuple(canonical_scopes(scope["S"] for scope in item["scopes"]["L"])),
            expires_at=item["expires_at"]["S"] if "expires_at" in item else None,
            listed=True,
        )

    def record_use(self, key: AuthenticatedKey, now: datetime) -> None:
        """Set the key's `last_used_at`, at most once a minute per key. Never raises: a failure to record a use
        must not fail the request."""
        if key.listed:
            self._recent_uses.get_or_load(key.id, lambda: self._write_use(key, now))

    def _write_use(self, key: AuthenticatedKey, now: datetime) -> None:
        try:
            aws.dynamodb().update_item(
                TableName=self._table,
                Key=_listing_key(key.workspace.workspace_id, key.id),
                UpdateExpression="SET last_used_at = :now",
                ConditionExpression="attribute_exists(PK) AND "
                "(attribute_not_exists(last_used_at) OR last_used_at < :resolution_ago)",
                ExpressionAttributeValues={
                    ":now": {"S": iso_utc(now)},
                    ":resolution_ago": {"S": iso_utc(now - LAST_USED_RESOLUTION)},
                },
            )
        except Exception as exc:
            # A failed condition means another environment recorded a use within the minute (or the key's listing
            # is gone, which must not be recreated): nothing to do.
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                logger.warning("could not record the API key's last use", extra={"api_key_id": key.id}, exc_info=True)

    def create(self, key: ApiKeyRecord) -> bool:
        """Store a new key; False when its workspace belongs to another organization (nothing is stored)."""
        organization: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {**_organization_key(key.workspace_id), "organization_id": {"S": key.organization_id}},
                "ConditionExpression": "attribute_not_exists(PK) OR organization_id = :organization",
                "ExpressionAttributeValues": {":organization": {"S": key.organization_id}},
            }
        }
        client = aws.dynamodb()
        try:
            client.transact_write_items(TransactItems=[*self._new_key_puts(key), organization])
        except client.exceptions.TransactionCanceledException:
            if self.organization_of(key.workspace_id) not in (None, key.organization_id):
                return False
            raise
        return True

    def organization_of(self, workspace_id: str) -> str | None:
        """The organization the workspace belongs to; None for a workspace without keys."""
        client = aws.dynamodb()
        item = client.get_item(TableName=self._table, Key=_organization_key(workspace_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:  # a workspace whose keys predate the organization item
            item = next(iter(client.query(
                TableName=self._table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": keys.api_key_list_pk(workspace_id)},
                    ":prefix": {"S": keys.API_KEY_LIST_SK_PREFIX},
                },
                ConsistentRead=True,
                Limit=1,
            ).get("Items", [])), None)  # fmt: skip
        return item["organization_id"]["S"] if item else None

    def list_keys(self, workspace_id: str) -> list[ApiKeyRecord]:
        """The workspace's keys that are not revoked (expired ones included), newest first."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "FilterExpression": "attribute_not_exists(revoked_at)",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.api_key_list_pk(workspace_id)},
                ":prefix": {"S": keys.API_KEY_LIST_SK_PREFIX},
            },
        }
        found: list[ApiKeyRecord] = []
        while True:
            response = aws.dynamodb().query(**request)
            found += [_from_listing(workspace_id, item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(found, key=lambda key: (key.created_at, key.id), reverse=True)

    def get(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        """The key, unless it does not exist in this workspace or was revoked (known without a request when `key_id`
        cannot be an id)."""
        if not is_id(key_id):
            return None
        response = aws.dynamodb().get_item(
            TableName=self._table, Key=_listing_key(workspace_id, key_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _from_listing(workspace_id, item) if item and "revoked_at" not in item else None

    def revoke(self, key: ApiKeyRecord, *, revoked_at: str) -> bool:
        """Mark the key revoked on both its items; False when a concurrent request revoked it first."""
        client = aws.dynamodb()
        try:
            client.transact_write_items(
                TransactItems=[
                    self._set_on_live_key(item_key, {"revoked_at": {"S": revoked_at}})
                    for item_key in (_listing_key(key.workspace_id, key.id), _lookup_key(key.key_hash))
                ]
            )
        except client.exceptions.TransactionCanceledException:
            return False
        return True

    def update(self, key: ApiKeyRecord, *, label: str, scopes: tuple[str, ...]) -> bool:
        """Set the key's label and scopes on both its items; False when it was revoked meanwhile."""
        values = {"label": {"S": label}, "scopes": {"L": [{"S": scope} for scope in scopes]}}
        client = aws.dynamodb()
        try:
            client.transact_write_items(
                TransactItems=[
                    self._set_on_live_key(item_key, values)
                    for item_key in (_listing_key(key.workspace_id, key.id), _lookup_key(key.key_hash))
                ]
            )
        except client.exceptions.TransactionCanceledException:
            return False
        return True

    def rotate(self, old: ApiKeyRecord, *, old_expires_at: str, new: ApiKeyRecord) -> None:
        """Store `new`, set the old key's expiry and mark it replaced by `new`, all or nothing."""
        # The old key must still be as read (not revoked, not replaced, same expiry) when the transaction commits.
        expiry, (unchanged, values) = {"expires_at": {"S": old_expires_at}}, _expiry_is(old.expires_at)
        changes = [
            self._set_on_live_key(
                _listing_key(old.workspace_id, old.id),
                {**expiry, "replaced_by": {"S": new.id}},
                also=(f"{unchanged} AND attribute_not_exists(replaced_by)", values),
            ),
            self._set_on_live_key(_lookup_key(old.key_hash), expiry, also=(unchanged, values)),
        ]
        client = aws.dynamodb()
        try:
            client.transact_write_items(TransactItems=[*self._new_key_puts(new), *changes])
        except client.exceptions.TransactionCanceledException as exc:
            raise ConcurrentModification("The API key was changed by another request; retry.") from exc

    def _new_key_puts(self, key: ApiKeyRecord) -> list[TransactWriteItemTypeDef]:
        shared: dict[str, Any] = {
            "key_id": {"S": key.id},
            "organization_id": {"S": key.organization_id},
            "label": {"S": key.label},
            "scopes": {"L": [{"S": scope} for scope in key.scopes]},
            "created_at": {"S": key.created_at},
        }
        if key.expires_at is not None:
            shared["expires_at"] = {"S": key.expires_at}
        lookup = {
            **_lookup_key(key.key_hash),
            **shared,
            "entity": {"S": "api_key"},
            "workspace_id": {"S": key.workspace_id},
        }
        listing = {
            **_listing_key(key.workspace_id, key.id),
            **shared,
            "entity": {"S": "api_key_listing"},
            "prefix": {"S": key.prefix},
            "key_hash": {"S": key.key_hash},
        }
        return [
            {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}
            for item in (lookup, listing)
        ]

    def _set_on_live_key(
        self, key: dict[str, Any], values: dict[str, Any], *, also: tuple[str, dict[str, Any]] = ("", {})
    ) -> TransactWriteItemTypeDef:
        """A transaction update of attributes of a key's item that exists and is not revoked, under the extra
        condition `also` (expression, values) when given."""
        condition = "attribute_exists(PK) AND attribute_not_exists(revoked_at)"
        if also[0]:
            condition = f"{condition} AND {also[0]}"
        names = {f"#a{index}": name for index, name in enumerate(values)}
        return {
            "Update": {
                "TableName": self._table,
                "Key": key,
                "UpdateExpression": "SET " + ", ".join(f"{name} = :v{name[2:]}" for name in names),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {
                    **{f":v{index}": value for index, value in enumerate(values.values())},
                    **also[1],
                },
            }
        }


def _expiry_is(expires_at: str | None) -> tuple[str, dict[str, Any]]:
    if expires_at is None:
        return "attribute_not_exists(expires_at)", {}
    return "expires_at = :expected_expiry", {":expected_expiry": {"S": expires_at}}


def _lookup_key(key_hash: str) -> dict[str, Any]:
    return {"PK": {"S": keys.api_key_pk(key_hash)}, "SK": {"S": keys.API_KEY_SK}}


def _organization_key(workspace_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.workspace_pk(workspace_id)}, "SK": {"S": keys.ORGANIZATION_SK}}


def _listing_key(workspace_id: str, key_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.api_key_list_pk(workspace_id)}, "SK": {"S": keys.api_key_list_sk(key_id)}}


def _from_listing(workspace_id: str, item: dict[str, Any]) -> ApiKeyRecord:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return ApiKeyRecord(
        id=item["key_id"]["S"],
        workspace_id=workspace_id,
        organization_id=item["organization_id"]["S"],
        label=item["label"]["S"],
        scopes=tuple(canonical_scopes(scope["S"] for scope in item["scopes"]["L"])),
        prefix=item["prefix"]["S"],
        key_hash=item["key_hash"]["S"],
        created_at=item["created_at"]["S"],
        expires_at=optional("expires_at"),
        last_used_at=optional("last_used_at"),
        revoked_at=optional("revoked_at"),
        replaced_by=optional("replaced_by"),
    )
