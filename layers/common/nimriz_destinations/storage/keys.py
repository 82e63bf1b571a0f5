"""Every DynamoDB key string is built here, so the single-table layout is in one place.

Items are namespaced by workspace (`WS#<id>`), so a query can only ever see its own workspace.
"""

from __future__ import annotations

DESTINATION_PREFIX = "DEST#"


def workspace_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def destination_sk(destination_id: str) -> str:
    return f"{DESTINATION_PREFIX}{destination_id}"


# In the workspace's partition beside its destinations: its quotas and what it uses of them (storage/quotas.py).
QUOTA_SK = "QUOTA"
# Beside it: the ids of the workspace's API Gateway key and own usage plan (storage/limits.py).
LIMITS_SK = "LIMITS"
# ... and the organization it belongs to, set by its first API key (storage/api_keys.py).
ORGANIZATION_SK = "ORGANIZATION"


def api_key_pk(key_hash: str) -> str:
    return f"APIKEY#{key_hash}"


API_KEY_SK = "APIKEY"


# A workspace's API keys, listed by the admin API (the lookup items above are keyed by hash, not by workspace).
API_KEY_LIST_SK_PREFIX = "KEY#"


def api_key_list_pk(workspace_id: str) -> str:
    return f"APIKEYS#WS#{workspace_id}"


def api_key_list_sk(key_id: str) -> str:
    return f"{API_KEY_LIST_SK_PREFIX}{key_id}"


def idempotency_pk(workspace_id: str, key_hash: str) -> str:
    """A request's idempotency record (storage/idempotency.py): the workspace and the SHA-256 of its key, never the
    key's own text (design §9.4)."""
    return f"IDEM#WS#{workspace_id}#{key_hash}"


IDEMPOTENCY_SK = "IDEM"
