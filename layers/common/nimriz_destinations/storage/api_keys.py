"""Workspace API keys: only the SHA-256 of a key is stored, mapped to its workspace."""

from __future__ import annotations

import hashlib

from .. import aws
from ..cache import TTLCache
from . import keys
from .records import Workspace


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, table_name: str, *, cache_seconds: int = 60) -> None:
        self._table = table_name
        # Positive and negative lookups are cached briefly: a revoked key stops working within cache_seconds.
        self._cache: TTLCache[Workspace | None] = TTLCache(max_entries=1024, ttl_seconds=cache_seconds)

    def lookup(self, api_key: str) -> Workspace | None:
        key_hash = hash_api_key(api_key)
        return self._cache.get_or_load(key_hash, lambda: self._read(key_hash))

    def _read(self, key_hash: str) -> Workspace | None:
        response = aws.dynamodb().get_item(
            TableName=self._table,
            Key={"PK": {"S": keys.api_key_pk(key_hash)}, "SK": {"S": keys.API_KEY_SK}},
        )
        item = response.get("Item")
        if not item or item.get("revoked", {}).get("BOOL"):
            return None
        return Workspace(workspace_id=item["workspace_id"]["S"], organization_id=item["organization_id"]["S"])

    def put(self, api_key: str, workspace: Workspace, *, label: str) -> None:
        aws.dynamodb().put_item(
            TableName=self._table,
            Item={
                "PK": {"S": keys.api_key_pk(hash_api_key(api_key))},
                "SK": {"S": keys.API_KEY_SK},
                "entity": {"S": "api_key"},
                "workspace_id": {"S": workspace.workspace_id},
                "organization_id": {"S": workspace.organization_id},
                "label": {"S": label},
            },
        )
