"""OpenAPI responses of the test-send and preview routes."""

from __future__ import annotations

from ...models.base import ErrorResponse
from ...models.previews import PreviewResponse, TestSendResponse, TestSendValidationResponse
from .common import BODY_ERRORS, ERRORS, NOT_FOUND, json_body, replayable

TEST_SEND_RESPONSES = replayable(
    {
        200: json_body(
            "mode \"validate\": the filter, the mapping and the provider's validation channel's verdict; nothing "
            "delivered",
            TestSendValidationResponse,
        ),
        202: json_body("Queued; the delivery log shows the outcome", TestSendResponse),
        **BODY_ERRORS,
        **NOT_FOUND,
        **ERRORS,
    },
    conflicts="No enabled action, or the action delivers nothing",
)

_PREVIEW_REFUSED = {
    422: json_body(
        "Validation failed, one details entry per problem: the body, the event (`event`), or a mapped event over "
        "64 KB, which would not be sent (`actions[i].property_mapping`)",
        ErrorResponse,
    )
}

PREVIEW_RESPONSES = {
    200: json_body("What each action would do", PreviewResponse),
    **BODY_ERRORS,
    **_PREVIEW_REFUSED,
    **NOT_FOUND,
    **ERRORS,
}

NEW_PREVIEW_RESPONSES = {
    200: json_body("What each action would do", PreviewResponse),
    **BODY_ERRORS,
    **_PREVIEW_REFUSED,
    **ERRORS,
}
