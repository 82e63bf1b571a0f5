"""OpenAPI responses many routes share: the errors every route may give, and the helpers each area documents its
routes' answers with."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from ...models.base import ErrorResponse


def json_body(description: str, model: type) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


ERRORS: dict[int, OpenAPIResponse] = {
    401: json_body("Missing or invalid API key", ErrorResponse),
    403: json_body("INSUFFICIENT_SCOPE: the API key lacks the scope this route needs", ErrorResponse),
    # Answered by API Gateway from the workspace's usage plan (design §9.6), before the function runs.
    429: json_body("RATE_LIMITED: over the workspace's request limit; retry after Retry-After seconds", ErrorResponse),
    500: json_body("Unexpected error", ErrorResponse),
    503: json_body("INTEGRATIONS_UNAVAILABLE: retry after Retry-After seconds", ErrorResponse),
}

BODY_ERRORS: dict[int, OpenAPIResponse] = {
    400: json_body("Body is not JSON", ErrorResponse),
    413: json_body("Body too large", ErrorResponse),
    415: json_body("Body is not application/json", ErrorResponse),
    422: json_body("Validation failed: one details entry per problem", ErrorResponse),
}

NOT_FOUND = {404: json_body("No such destination in this workspace", ErrorResponse)}

# Routes a client may retry with an Idempotency-Key (api/idempotency.py, design §9.7).
_REPLAYED_HEADER: dict[str, OpenAPIResponseHeader] = {
    "Idempotent-Replayed": {
        "description": "`true`: the first answer to the request's Idempotency-Key, given again; nothing was done again",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE: a request with the same Idempotency-Key is still in progress"

_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used for another request within 24 hours"


def replayable(
    responses: dict[int, OpenAPIResponse], *, conflicts: str | None = None, refusals: str | None = None
) -> dict[int, OpenAPIResponse]:
    """`responses` of an idempotent route: its success answers carry `Idempotent-Replayed`; 409 and 422 say which of
    theirs the key adds (`conflicts`, `refusals`: what the route's own 409 and 422 say)."""
    documented: dict[int, OpenAPIResponse] = {}
    for status, response in responses.items():
        documented[status] = OpenAPIResponse(**response, headers=_REPLAYED_HEADER) if status < 300 else response
    documented[409] = json_body(_KEY_IN_USE if conflicts is None else f"{conflicts}; or {_KEY_IN_USE}", ErrorResponse)
    refused = "Validation failed: one details entry per problem" if refusals is None else refusals
    documented[422] = json_body(f"{refused}; or {_KEY_REUSED}", ErrorResponse)
    return documented


# Admin routes: API Gateway refuses unsigned or wrongly signed requests itself (403, the admin API's gateway
# responses); there is no 401.
ADMIN_ERRORS: dict[int, OpenAPIResponse] = {
    403: json_body("Not signed with AWS credentials allowed to call the admin API", ErrorResponse),
    422: json_body("Invalid workspace id or query", ErrorResponse),
    500: json_body("Unexpected error", ErrorResponse),
}


# Support's routes (admin API): a workspace route's answers, with the admin API's access errors for its own.
def for_support(responses: dict[int, OpenAPIResponse]) -> dict[int, OpenAPIResponse]:
    return {**ADMIN_ERRORS, **{status: r for status, r in responses.items() if status not in ERRORS}}
