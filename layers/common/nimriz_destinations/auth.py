"""Workspace API key authentication (design §9, fixed): `Authorization: Bearer <key>` or `X-Nim-Api-Key: <key>`."""

from __future__ import annotations

from collections.abc import Mapping

from .storage.api_keys import ApiKeyStore
from .storage.records import Workspace

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


def authenticate(headers: Mapping[str, str] | None, store: ApiKeyStore) -> Workspace | None:
    key = extract_api_key(headers)
    return store.lookup(key) if key else None


def allow_policy(method_arn: str, workspace: Workspace) -> dict[str, object]:
    """API Gateway REQUEST authorizer response; the context reaches the endpoint's requestContext.authorizer."""
    # Allow every method of this stage: the decision depends on the key only, never on the route.
    api_arn = "/".join(method_arn.split("/", 2)[:2]) + "/*"
    return {
        "principalId": workspace.workspace_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_arn}],
        },
        "context": {"workspace_id": workspace.workspace_id, "organization_id": workspace.organization_id},
    }
