"""Workspace API key authentication (design §9.1, fixed): `Authorization: Bearer <key>` or `X-Nim-Api-Key: <key>`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .clock import iso_utc
from .scopes import scopes_to_context
from .storage.api_keys import ApiKeyStore, AuthenticatedKey

_MAX_KEY_LENGTH = 256


def extract_api_key(headers: Mapping[str, str] | None) -> str | None:
    lowered = {name.lower(): value for name, value in (headers or {}).items() if isinstance(value, str)}
    key = lowered.get("x-nim-api-key", "").strip()
    if not key:
        scheme, _, credentials = lowered.get("authorization", "").strip().partition(" ")
        key = credentials.strip() if scheme.lower() == "bearer" else ""
    if not key or len(key) > _MAX_KEY_LENGTH:
        return None
    return key


def authenticate(headers: Mapping[str, str] | None, store: ApiKeyStore, now: datetime) -> AuthenticatedKey | None:
    """The key the request presents, unless it is unknown, revoked (within the store's cache time) or expired."""
    secret = extract_api_key(headers)
    key = store.lookup(secret) if secret else None
    if key is None or key.expired_at(iso_utc(now)):
        return None
    return key


def allow_policy(method_arn: str, key: AuthenticatedKey, usage_key: str) -> dict[str, object]:
    """API Gateway REQUEST authorizer response; the context reaches the endpoint's requestContext.authorizer.
    `usage_key` is the workspace's API Gateway API key: its usage plan throttles the request (design §9.6)."""
    # Allow every method of this stage: the decision depends on the key only. Each endpoint checks the scope its
    # route needs against `scopes` (api/app.py), so one authorizer answer fits every route.
    api_arn = "/".join(method_arn.split("/", 2)[:2]) + "/*"
    return {
        "principalId": key.workspace.workspace_id,
        "usageIdentifierKey": usage_key,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_arn}],
        },
        "context": {
            "workspace_id": key.workspace.workspace_id,
            "organization_id": key.workspace.organization_id,
            "api_key_id": key.id,
            "scopes": scopes_to_context(key.scopes),
        },
    }
