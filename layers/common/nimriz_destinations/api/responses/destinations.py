"""OpenAPI responses of the destination routes (and support's views of them)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from ...models.base import ErrorResponse
from ...models.destinations import (
    DestinationListResponse,
    DestinationResponse,
    SigningSecretRotated,
    UnhealthyDestinationListResponse,
)
from .common import ADMIN_ERRORS, BODY_ERRORS, ERRORS, NOT_FOUND, for_support, json_body, replayable

# A save is also refused when it would take the workspace over a quota (quotas.py).
_SAVE_ERRORS = {
    **BODY_ERRORS,
    422: json_body(
        "VALIDATION_FAILED (one details entry per problem), or QUOTA_EXCEEDED (one per quota, with its limit)",
        ErrorResponse,
    ),
}

CREATE_RESPONSES = replayable(
    {201: json_body("Created", DestinationResponse), **_SAVE_ERRORS, **ERRORS},
    refusals="VALIDATION_FAILED (one details entry per problem), or QUOTA_EXCEEDED (one per quota, with its limit)",
)

LIST_RESPONSES = {
    200: json_body("One page of destinations", DestinationListResponse),
    400: json_body("Invalid cursor", ErrorResponse),
    422: json_body("Invalid query", ErrorResponse),
    **ERRORS,
}

GET_RESPONSES = {200: json_body("The destination", DestinationResponse), **NOT_FOUND, **ERRORS}

UPDATE_RESPONSES = {
    200: json_body("Updated", DestinationResponse),
    409: json_body("Concurrent modification", ErrorResponse),
    412: json_body("If-Match does not match the current ETag", ErrorResponse),
    **_SAVE_ERRORS,
    **NOT_FOUND,
    **ERRORS,
}

PATCH_RESPONSES = {
    **UPDATE_RESPONSES,
    415: json_body("Body is not application/merge-patch+json", ErrorResponse),
}

DELETE_RESPONSES: dict[int, OpenAPIResponse] = {204: {"description": "Deleted"}, **NOT_FOUND, **ERRORS}

ROTATE_SIGNING_SECRET_RESPONSES = {
    200: json_body("Rotated; the new secret is shown only here", SigningSecretRotated),
    409: json_body("SIGNING_SECRET_NOT_SUPPORTED (the type signs nothing), or CONCURRENT_MODIFICATION", ErrorResponse),
    **BODY_ERRORS,
    **NOT_FOUND,
    **ERRORS,
}

PAUSE_RESPONSES = replayable(
    {200: json_body("The destination as it now is", DestinationResponse), **NOT_FOUND, **ERRORS}
)

LIST_UNHEALTHY_DESTINATIONS_RESPONSES = {
    200: json_body("One page of failing or disabled destinations of every workspace", UnhealthyDestinationListResponse),
    400: json_body("Invalid cursor", ErrorResponse),
    **ADMIN_ERRORS,
}

SUPPORT_GET_RESPONSES = for_support(GET_RESPONSES)

SUPPORT_ENABLE_RESPONSES = for_support(
    {200: json_body("Enabled (or already enabled)", DestinationResponse), 409: UPDATE_RESPONSES[409], **NOT_FOUND}
)
