"""OpenAPI response declarations per route (documentation of status codes and bodies)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from ..models import (
    ApiKeyCreatedResponse,
    ApiKeyListResponse,
    ApiKeyOut,
    AuditLogResponse,
    DeadLetterListResponse,
    DeliveryDetailResponse,
    DeliveryListResponse,
    DestinationListResponse,
    DestinationMetricsResponse,
    DestinationResponse,
    ErrorResponse,
    EstimateResponse,
    LimitsResponse,
    ParkedEventListResponse,
    PreviewResponse,
    QuotasResponse,
    RecoverResponse,
    RecoveryResponse,
    ReplayResponse,
    SigningSecretRotated,
    TestSendResponse,
    TestSendValidationResponse,
    UnhealthyDestinationListResponse,
)


def _json(description: str, model: type) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


_ERRORS: dict[int, OpenAPIResponse] = {
    401: _json("Missing or invalid API key", ErrorResponse),
    403: _json("INSUFFICIENT_SCOPE: the API key lacks the scope this route needs", ErrorResponse),
    # Answered by API Gateway from the workspace's usage plan (design §9.6), before the function runs.
    429: _json("RATE_LIMITED: over the workspace's request limit; retry after Retry-After seconds", ErrorResponse),
    500: _json("Unexpected error", ErrorResponse),
    503: _json("INTEGRATIONS_UNAVAILABLE: retry after Retry-After seconds", ErrorResponse),
}
_BODY_ERRORS: dict[int, OpenAPIResponse] = {
    400: _json("Body is not JSON", ErrorResponse),
    413: _json("Body too large", ErrorResponse),
    415: _json("Body is not application/json", ErrorResponse),
    422: _json("Validation failed: one details entry per problem", ErrorResponse),
}
_NOT_FOUND = {404: _json("No such destination in this workspace", ErrorResponse)}

# Routes a client may retry with an Idempotency-Key (api/idempotency.py, design §9.7).
_REPLAYED_HEADER: dict[str, OpenAPIResponseHeader] = {
    "Idempotent-Replayed": {
        "description": "`true`: the first answer to the request's Idempotency-Key, given again; nothing was done again",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE: a request with the same Idempotency-Key is still in progress"
_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used for another request within 24 hours"


def _replayable(
    responses: dict[int, OpenAPIResponse], *, conflicts: str | None = None, refusals: str | None = None
) -> dict[int, OpenAPIResponse]:
    """`responses` of an idempotent route: its success answers carry `Idempotent-Replayed`; 409 and 422 say which of
    theirs the key adds (`conflicts`, `refusals`: what the route's own 409 and 422 say)."""
    documented: dict[int, OpenAPIResponse] = {}
    for status, response in responses.items():
        documented[status] = OpenAPIResponse(**response, headers=_REPLAYED_HEADER) if status < 300 else response
    documented[409] = _json(_KEY_IN_USE if conflicts is None else f"{conflicts}; or {_KEY_IN_USE}", ErrorResponse)
    refused = "Validation failed: one details entry per problem" if refusals is None else refusals
    documented[422] = _json(f"{refused}; or {_KEY_REUSED}", ErrorResponse)
    return documented


# A save is also refused when it would take the workspace over a quota (quotas.py).
_SAVE_ERRORS = {
    **_BODY_ERRORS,
    422: _json(
        "VALIDATION_FAILED (one details entry per problem), or QUOTA_EXCEEDED (one per quota, with its limit)",
        ErrorResponse,
    ),
}
CREATE_RESPONSES = _replayable(
    {201: _json("Created", DestinationResponse), **_SAVE_ERRORS, **_ERRORS},
    refusals="VALIDATION_FAILED (one details entry per problem), or QUOTA_EXCEEDED (one per quota, with its limit)",
)
LIST_RESPONSES = {
    200: _json("One page of destinations", DestinationListResponse),
    400: _json("Invalid cursor", ErrorResponse),
    422: _json("Invalid query", ErrorResponse),
    **_ERRORS,
}
GET_RESPONSES = {200: _json("The destination", DestinationResponse), **_NOT_FOUND, **_ERRORS}
UPDATE_RESPONSES = {
    200: _json("Updated", DestinationResponse),
    409: _json("Concurrent modification", ErrorResponse),
    412: _json("If-Match does not match the current ETag", ErrorResponse),
    **_SAVE_ERRORS,
    **_NOT_FOUND,
    **_ERRORS,
}
PATCH_RESPONSES = {
    **UPDATE_RESPONSES,
    415: _json("Body is not application/merge-patch+json", ErrorResponse),
}
DELETE_RESPONSES: dict[int, OpenAPIResponse] = {204: {"description": "Deleted"}, **_NOT_FOUND, **_ERRORS}
TEST_SEND_RESPONSES = _replayable(
    {
        200: _json(
            "mode \"validate\": the filter, the mapping and the provider's validation channel's verdict; nothing "
            "delivered",
            TestSendValidationResponse,
        ),
        202: _json("Queued; the delivery log shows the outcome", TestSendResponse),
        **_BODY_ERRORS,
        **_NOT_FOUND,
        **_ERRORS,
    },
    conflicts="No enabled action, or the action delivers nothing",
)
ROTATE_SIGNING_SECRET_RESPONSES = {
    200: _json("Rotated; the new secret is shown only here", SigningSecretRotated),
    409: _json("SIGNING_SECRET_NOT_SUPPORTED (the type signs nothing), or CONCURRENT_MODIFICATION", ErrorResponse),
    **_BODY_ERRORS,
    **_NOT_FOUND,
    **_ERRORS,
}
LIST_DELIVERIES_RESPONSES = {
    200: _json("One page of deliveries, newest first: full unless it is the last", DeliveryListResponse),
    400: _json("Invalid cursor", ErrorResponse),
    422: _json(
        "VALIDATION_FAILED: an invalid filter; SEARCH_TOO_BROAD: no full page within the read budget (narrow the "
        "time range)",
        ErrorResponse,
    ),
    **_NOT_FOUND,
    **_ERRORS,
}
GET_DELIVERY_RESPONSES = {
    200: _json("The delivery with every attempt", DeliveryDetailResponse),
    404: _json("No such destination or delivery", ErrorResponse),
    **_ERRORS,
}
LIST_DEAD_LETTERS_RESPONSES = {
    200: _json("One page of dead letters, newest first", DeadLetterListResponse),
    400: _json("Invalid cursor", ErrorResponse),
    **_NOT_FOUND,
    **_ERRORS,
}
PAUSE_RESPONSES = _replayable(
    {200: _json("The destination as it now is", DestinationResponse), **_NOT_FOUND, **_ERRORS}
)
RECOVERY_RESPONSES = _replayable(
    {
        202: _json("Started: its first page is queued, the rest continues in the background", RecoveryResponse),
        **_BODY_ERRORS,
        **_NOT_FOUND,
        **_ERRORS,
    },
    conflicts="RECOVERY_RUNNING: a recovery of this destination is still running",
)
_REPLAY_RESPONSES = {202: _json("Re-queued", ReplayResponse), **_BODY_ERRORS, **_NOT_FOUND, **_ERRORS}
REPLAY_RESPONSES = _replayable(_REPLAY_RESPONSES)
_PREVIEW_REFUSED = {
    422: _json(
        "Validation failed, one details entry per problem: the body, the event (`event`), or a mapped event over "
        "64 KB, which would not be sent (`actions[i].property_mapping`)",
        ErrorResponse,
    )
}
PREVIEW_RESPONSES = {
    200: _json("What each action would do", PreviewResponse),
    **_BODY_ERRORS,
    **_PREVIEW_REFUSED,
    **_NOT_FOUND,
    **_ERRORS,
}
NEW_PREVIEW_RESPONSES = {
    200: _json("What each action would do", PreviewResponse),
    **_BODY_ERRORS,
    **_PREVIEW_REFUSED,
    **_ERRORS,
}
LIST_PARKED_EVENTS_RESPONSES = {
    200: _json("One page of the workspace's parked events, newest first", ParkedEventListResponse),
    400: _json("Invalid cursor", ErrorResponse),
    422: _json("Invalid query", ErrorResponse),
    **_ERRORS,
}
RECOVER_PARKED_EVENTS_RESPONSES = {202: _json("Queued for fan-out again", RecoverResponse), **_BODY_ERRORS, **_ERRORS}

# Admin routes: API Gateway refuses unsigned or wrongly signed requests itself (403, the admin API's gateway
# responses); there is no 401.
_ADMIN_ERRORS: dict[int, OpenAPIResponse] = {
    403: _json("Not signed with AWS credentials allowed to call the admin API", ErrorResponse),
    422: _json("Invalid workspace id or query", ErrorResponse),
    500: _json("Unexpected error", ErrorResponse),
}
_KEY_NOT_FOUND = {404: _json("No such API key in this workspace, or it was revoked", ErrorResponse)}
CREATE_API_KEY_RESPONSES = {
    201: _json("Created; the secret is shown this once", ApiKeyCreatedResponse),
    **_BODY_ERRORS,
    **_ADMIN_ERRORS,
}
LIST_API_KEYS_RESPONSES = {
    200: _json("The workspace's keys, newest first, without secrets", ApiKeyListResponse),
    **_ADMIN_ERRORS,
}
REVOKE_API_KEY_RESPONSES: dict[int, OpenAPIResponse] = {
    204: {"description": "Revoked: the key stops working within AUTH_CACHE_SECONDS"},
    **_KEY_NOT_FOUND,
    **_ADMIN_ERRORS,
}
ROTATE_API_KEY_RESPONSES = {
    201: _json(
        "The new key; the secret is shown this once (again, to a retry with the same Idempotency-Key)",
        ApiKeyCreatedResponse,
    ),
    409: _json(
        "The key has expired, was already rotated (API_KEY_ROTATING), or a request with the same "
        "Idempotency-Key is in progress",
        ErrorResponse,
    ),
    **_KEY_NOT_FOUND,
    **_BODY_ERRORS,
    **_ADMIN_ERRORS,
}
UPDATE_API_KEY_RESPONSES = {
    200: _json("The key as the list shows it", ApiKeyOut),
    409: _json("The key changed during the update", ErrorResponse),
    **_KEY_NOT_FOUND,
    **_BODY_ERRORS,
    **_ADMIN_ERRORS,
}
GET_QUOTAS_RESPONSES = {200: _json("The workspace's quotas", QuotasResponse), **_ADMIN_ERRORS}
UPDATE_QUOTAS_RESPONSES = {
    200: _json("The quotas as they now are", QuotasResponse),
    **_BODY_ERRORS,
    **_ADMIN_ERRORS,
}
GET_LIMITS_RESPONSES = {200: _json("The workspace's request limits", LimitsResponse), **_ADMIN_ERRORS}
UPDATE_LIMITS_RESPONSES = {
    200: _json("The request limits as they now are", LimitsResponse),
    **_BODY_ERRORS,
    **_ADMIN_ERRORS,
}
LIST_AUDIT_LOG_RESPONSES = {
    200: _json("One page of the workspace's configuration changes, newest first", AuditLogResponse),
    400: _json("Invalid cursor", ErrorResponse),
    422: _json("Invalid query", ErrorResponse),
    **_ERRORS,
}
METRICS_RESPONSES = {
    200: _json("Counts per action and in total over the window", DestinationMetricsResponse),
    422: _json("Invalid query", ErrorResponse),
    **_NOT_FOUND,
    **_ERRORS,
}
ESTIMATE_RESPONSES = {
    200: _json("What each action matched over the window, enabled or not", EstimateResponse),
    422: _json("Invalid query", ErrorResponse),
    **_NOT_FOUND,
    **_ERRORS,
}


def resolve_interstitial_responses() -> dict[int, OpenAPIResponse]:
    """The resolve route's responses; its models are imported here, by that route's function alone."""
    from ..interstitial.models import ResolveResponse

    return {
        200: _json("The merged pixel set with a signed page token, or interstitial: null", ResolveResponse),
        **_BODY_ERRORS,
        **_ERRORS,
    }


# Support's routes (admin API): a workspace route's answers, with the admin API's access errors for its own.
def _for_support(responses: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    return {**_ADMIN_ERRORS, **{status: r for status, r in responses.items() if status not in _ERRORS}}


LIST_UNHEALTHY_DESTINATIONS_RESPONSES = {
    200: _json("One page of failing or disabled destinations of every workspace", UnhealthyDestinationListResponse),
    400: _json("Invalid cursor", ErrorResponse),
    **_ADMIN_ERRORS,
}
SUPPORT_GET_RESPONSES = _for_support(GET_RESPONSES)
SUPPORT_LIST_DELIVERIES_RESPONSES = _for_support(LIST_DELIVERIES_RESPONSES)
SUPPORT_LIST_DEAD_LETTERS_RESPONSES = _for_support(LIST_DEAD_LETTERS_RESPONSES)
SUPPORT_REPLAY_RESPONSES = _for_support(_REPLAY_RESPONSES)  # the admin route takes no Idempotency-Key
SUPPORT_ENABLE_RESPONSES = _for_support(
    {200: _json("Enabled (or already enabled)", DestinationResponse), 409: UPDATE_RESPONSES[409], **_NOT_FOUND}
)
SUPPORT_LIST_PARKED_EVENTS_RESPONSES = _for_support(LIST_PARKED_EVENTS_RESPONSES)
SUPPORT_RECOVER_PARKED_EVENTS_RESPONSES = _for_support(RECOVER_PARKED_EVENTS_RESPONSES)
SUPPORT_LIST_AUDIT_LOG_RESPONSES = _for_support(LIST_AUDIT_LOG_RESPONSES)
