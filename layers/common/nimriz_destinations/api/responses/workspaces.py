"""OpenAPI responses of the admin API's routes for a workspace's API keys, quotas and limits, and of the audit log
routes."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from ...models.base import ErrorResponse
from ...models.workspaces import (
    ApiKeyCreatedResponse,
    ApiKeyListResponse,
    ApiKeyOut,
    AuditLogResponse,
    LimitsResponse,
    QuotasResponse,
)
from .common import ADMIN_ERRORS, BODY_ERRORS, ERRORS, for_support, json_body

_KEY_NOT_FOUND = {404: json_body("No such API key in this workspace, or it was revoked", ErrorResponse)}

CREATE_API_KEY_RESPONSES = {
    201: json_body("Created; the secret is shown this once", ApiKeyCreatedResponse),
    **BODY_ERRORS,
    **ADMIN_ERRORS,
}

LIST_API_KEYS_RESPONSES = {
    200: json_body("The workspace's keys, newest first, without secrets", ApiKeyListResponse),
    **ADMIN_ERRORS,
}

REVOKE_API_KEY_RESPONSES: dict[int, OpenAPIResponse] = {
    204: {"description": "Revoked: the key stops working within AUTH_CACHE_SECONDS"},
    **_KEY_NOT_FOUND,
    **ADMIN_ERRORS,
}

ROTATE_API_KEY_RESPONSES = {
    201: json_body(
        "The new key; the secret is shown this once (again, to a retry with the same Idempotency-Key)",
        ApiKeyCreatedResponse,
    ),
    409: json_body(
        "The key has expired, was already rotated (API_KEY_ROTATING), or a request with the same "
        "Idempotency-Key is in progress",
        ErrorResponse,
    ),
    **_KEY_NOT_FOUND,
    **BODY_ERRORS,
    **ADMIN_ERRORS,
}

UPDATE_API_KEY_RESPONSES = {
    200: json_body("The key as the list shows it", ApiKeyOut),
    409: json_body("The key changed during the update", ErrorResponse),
    **_KEY_NOT_FOUND,
    **BODY_ERRORS,
    **ADMIN_ERRORS,
}

GET_QUOTAS_RESPONSES = {200: json_body("The workspace's quotas", QuotasResponse), **ADMIN_ERRORS}

UPDATE_QUOTAS_RESPONSES = {
    200: json_body("The quotas as they now are", QuotasResponse),
    **BODY_ERRORS,
    **ADMIN_ERRORS,
}

GET_LIMITS_RESPONSES = {200: json_body("The workspace's request limits", LimitsResponse), **ADMIN_ERRORS}

UPDATE_LIMITS_RESPONSES = {
    200: json_body("The request limits as they now are", LimitsResponse),
    **BODY_ERRORS,
    **ADMIN_ERRORS,
}

LIST_AUDIT_LOG_RESPONSES = {
    200: json_body("One page of the workspace's configuration changes, newest first", AuditLogResponse),
    400: json_body("Invalid cursor", ErrorResponse),
    422: json_body("Invalid query", ErrorResponse),
    **ERRORS,
}

SUPPORT_LIST_AUDIT_LOG_RESPONSES = for_support(LIST_AUDIT_LOG_RESPONSES)
