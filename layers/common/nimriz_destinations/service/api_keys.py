"""Workspace API keys for the admin API: create, list, change, revoke, rotate.

A secret is `nmz_` and 32 random bytes (URL-safe base64); it is returned once, when made, and stored only as its
SHA-256. Keys carry scopes (`scopes.py`) and may expire. Rotating a key makes a new one with the same label and
scopes (and the expiry the rotation asks for, never the old key's), and lets the old one work for
`overlap_seconds` more; a key already replaced is not rotated again (409 `API_KEY_ROTATING`). A rotation may be
retried with an `Idempotency-Key` (service/idempotency.py): its new key's id and secret are derived from the
request's nonce, so a retry answers the same key and secret without the secret ever being stored.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

from ..audit import Actor, Change, Target
from ..clock import iso_utc
from ..errors import (
    ApiKeyExpired,
    ApiKeyNotFound,
    ApiKeyRotating,
    ConcurrentModification,
    Problem,
    ValidationFailed,
)
from ..scopes import canonical_scopes
from ..storage.api_keys import ApiKeyRecord, ApiKeyStore, hash_api_key
from ..storage.records import Workspace
from .audit import AuditLog
from .idempotency import IdempotentOperation, IdempotentRequests, Outcome

SECRET_PREFIX = "nmz_"
SECRET_RANDOM_BYTES = 32
# `nmz_` and 4 characters of the random part (24 bits): enough to tell keys apart, far too few to guess one.
RECOGNISABLE_PREFIX_LENGTH = len(SECRET_PREFIX) + 4


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_RANDOM_BYTES)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made, with its secret: the only moment the secret exists outside the caller's hands."""

    key: ApiKeyRecord
    secret: str


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """What a PATCH changes of a key; None leaves it as it is."""

    label: str | None = None
    scopes: Sequence[str] | None = None


class ApiKeyService:
    """Every create, change, revoke and rotate is audited (`AuditLog.recorded`: no change without its entry)."""

    def __init__(self, store: ApiKeyStore, audit: AuditLog, idempotent: IdempotentRequests) -> None:
        self._store = store
        self._audit = audit
        self._idempotent = idempotent

    def create(
        self, workspace: Workspace, actor: Actor, *, label: str, scopes: Sequence[str], expires_at: datetime | None
    ) -> IssuedKey:
        now = datetime.now(UTC)
        self._check_organization(workspace)
        secret = new_secret()
        key = _record(
            workspace, secret, str(uuid.uuid4()), label=label, scopes=scopes, expires_at=_expiry(expires_at, now),
            created_at=iso_utc(now),
        )  # fmt: skip
        changes = [Change(name, None, value) for name, value in _described(key).items()]
        with self._audit.recorded(workspace.workspace_id, actor, "api_key.created", _target(key), changes):
            if not self._store.create(key):
                raise _organization_mismatch()
        return IssuedKey(key=key, secret=secret)

    def list_keys(self, workspace_id: str) -> list[ApiKeyRecord]:
        return self._store.list_keys(workspace_id)

    def update(self, workspace_id: str, key_id: str, actor: Actor, changes: KeyChanges) -> ApiKeyRecord:
        """Change a key's label and/or scopes (on both its items: the authorizer reads the scopes of the lookup item,
        cached for AUTH_CACHE_SECONDS)."""
        key = self._live_key(workspace_id, key_id)
        label = changes.label if changes.label is not None else key.label
        scopes = tuple(canonical_scopes(changes.scopes)) if changes.scopes is not None else key.scopes
        changed = [
            Change(name, before, after)
            for name, before, after in (("label", key.label, label), ("scopes", list(key.scopes), list(scopes)))
            if before != after
        ]
        if not changed:
            return key
        updated = replace(key, label=label, scopes=scopes)
        with self._audit.recorded(workspace_id, actor, "api_key.updated", _target(key), changed):
            if not self._store.update(key, label=label, scopes=scopes):
                raise ConcurrentModification("The API key was changed or revoked by another request; retry.")
        return updated

    def revoke(self, workspace_id: str, key_id: str, actor: Actor) -> ApiKeyRecord:
        key = self._live_key(workspace_id, key_id)
        revoked_at = self._now()
        with self._audit.recorded(
            workspace_id, actor, "api_key.revoked", _target(key), [Change("revoked_at", None, revoked_at)]
        ):
            if not self._store.revoke(key, revoked_at=revoked_at):
                raise ApiKeyNotFound()
        return key

    def rotate(
        self,
        workspace_id: str,
        key_id: str,
        actor: Actor,
        *,
        overlap_seconds: int,
        expires_at: datetime | None,
        idempotency_key: str | None,
    ) -> Outcome[IssuedKey]:
        """A new key like the old one; the old one works for `overlap_seconds` more (never past its own expiry).
        With `idempotency_key`, a retry within 24 hours answers the first rotation's key and secret again."""
        key_id = key_id.lower()
        request = {"workspace_id": workspace_id, "key_id": key_id, "overlap_seconds": overlap_seconds,
                   "expires_at": iso_utc(expires_at) if expires_at is not None else None}  # fmt: skip
        operation = IdempotentOperation(
            name="api_key.rotate",
            request=request,
            perform=lambda nonce: self._rotate(workspace_id, key_id, actor, overlap_seconds, expires_at, nonce),
            recorded=lambda issued: asdict(issued.key),
            replayed=lambda recorded, nonce: self._issued_again(ApiKeyRecord.from_dict(recorded), nonce),
        )
        return self._idempotent.run(workspace_id, idempotency_key, operation)

    def _rotate(
        self,
        workspace_id: str,
        key_id: str,
        actor: Actor,
        overlap_seconds: int,
        expires_at: datetime | None,
        nonce: bytes,
    ) -> IssuedKey:
        old = self._live_key(workspace_id, key_id)
        now = datetime.now(UTC)
        new_id, secret = self._key_material(nonce)
        if old.replaced_by is not None and old.replaced_by == new_id:
            return self._made_by_this_request(old, secret)
        if old.expires_at is not None and old.expires_at <= iso_utc(now):
            raise ApiKeyExpired("This API key has expired and cannot be rotated; create a new key.")
        if old.replaced_by is not None:
            raise ApiKeyRotating()
        old_expires_at = iso_utc(now + timedelta(seconds=overlap_seconds))
        if old.expires_at is not None:
            old_expires_at = min(old_expires_at, old.expires_at)
        workspace = Workspace(workspace_id=workspace_id, organization_id=old.organization_id)
        new = _record(
            workspace, secret, new_id, label=old.label, scopes=old.scopes, expires_at=_expiry(expires_at, now),
            created_at=iso_utc(now),
        )  # fmt: skip
        changes = [Change("expires_at", old.expires_at, old_expires_at), Change("replaced_by", None, new.id)]
        with self._audit.recorded(workspace_id, actor, "api_key.rotated", _target(old), changes):
            try:
                self._store.rotate(old, old_expires_at=old_expires_at, new=new)
            except ConcurrentModification:
                again = self._live_key(workspace_id, key_id)
                if again.replaced_by is not None:
                    raise ApiKeyRotating() from None
                raise
        return IssuedKey(key=new, secret=secret)

    def _made_by_this_request(self, old: ApiKeyRecord, secret: str) -> IssuedKey:
        """The key that replaced `old` in a rotation this request's nonce made before (a retry taking over a rotation
        whose answer was never recorded)."""
        new = self._store.get(old.workspace_id, str(old.replaced_by))
        if new is None:  # revoked since
            raise ApiKeyRotating()
        return IssuedKey(key=new, secret=secret)

    def _issued_again(self, key: ApiKeyRecord, nonce: bytes) -> IssuedKey:
        _, secret = self._key_material(nonce)
        if hash_api_key(secret) != key.key_hash:
            # Only if the stack's idempotency key changed within the 24 hours: never hand out a secret that fails.
            raise RuntimeError("the replayed secret does not match the key made by the first request")
        return IssuedKey(key=key, secret=secret)

    def _key_material(self, nonce: bytes) -> tuple[str, str]:
        """A new key's id (a version 4 UUID) and secret, both derived from the request's nonce."""
        key_id = uuid.UUID(bytes=self._idempotent.derive(nonce, "api_key.id")[:16], version=4)
        random_part = base64.urlsafe_b64encode(self._idempotent.derive(nonce, "api_key.secret")).rstrip(b"=")
        return str(key_id), SECRET_PREFIX + random_part.decode()

    def _check_organization(self, workspace: Workspace) -> None:
        known = self._store.organization_of(workspace.workspace_id)
        if known is not None and known != workspace.organization_id:
            raise _organization_mismatch()

    def _live_key(self, workspace_id: str, key_id: str) -> ApiKeyRecord:
        key = self._store.get(workspace_id, key_id.lower())
        if key is None:
            raise ApiKeyNotFound()
        return key

    def _now(self) -> str:
        return iso_utc(datetime.now(UTC))


def import_key(
    store: ApiKeyStore, workspace: Workspace, secret: str, *, label: str, scopes: Sequence[str]
) -> ApiKeyRecord:
    """Store a key whose secret the caller chose (the local stack's dev keys): never used by the API, not audited."""
    now = iso_utc(datetime.now(UTC))
    key = _record(workspace, secret, str(uuid.uuid4()), label=label, scopes=scopes, expires_at=None, created_at=now)
    store.create(key)
    return key


def _expiry(expires_at: datetime | None, now: datetime) -> str | None:
    if expires_at is None:
        return None
    if expires_at <= now:
        raise ValidationFailed("The request has invalid fields.", [Problem("expires_at", "must be in the future")])
    return iso_utc(expires_at)


def _organization_mismatch() -> ValidationFailed:
    return ValidationFailed(
        "The workspace belongs to another organization.",
        [Problem("organization_id", "does not match the organization of the workspace's keys")],
    )


def _target(key: ApiKeyRecord) -> Target:
    return Target("api_key", key.id)


def _described(key: ApiKeyRecord) -> dict[str, object]:
    """What the audit log says about a new key: never its secret or hash, only what a list shows."""
    return {"label": key.label, "scopes": list(key.scopes), "prefix": key.prefix, "expires_at": key.expires_at}


def _record(
    workspace: Workspace,
    secret: str,
    key_id: str,
    *,
    label: str,
    scopes: Sequence[str],
    expires_at: str | None,
    created_at: str,
) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=key_id,
        workspace_id=workspace.workspace_id,
        organization_id=workspace.organization_id,
        label=label,
        scopes=tuple(canonical_scopes(scopes)),
        prefix=secret[:RECOGNISABLE_PREFIX_LENGTH],
        key_hash=hash_api_key(secret),
        created_at=created_at,
        expires_at=expires_at,
    )
