"""OpenAPI responses of the delivery log, dead letter, replay, recovery and parked-event routes (and support's
views of them)."""

from __future__ import annotations

from ...models.base import ErrorResponse
from ...models.deliveries import (
    DeadLetterListResponse,
    DeliveryDetailResponse,
    DeliveryListResponse,
    ParkedEventListResponse,
    RecoverResponse,
    RecoveryResponse,
    ReplayResponse,
)
from .common import BODY_ERRORS, ERRORS, NOT_FOUND, for_support, json_body, replayable

LIST_DELIVERIES_RESPONSES = {
    200: json_body("One page of deliveries, newest first: full unless it is the last", DeliveryListResponse),
    400: json_body("Invalid cursor", ErrorResponse),
    422: json_body(
        "VALIDATION_FAILED: an invalid filter; SEARCH_TOO_BROAD: no full page within the read budget (narrow the "
        "time range)",
        ErrorResponse,
    ),
    **NOT_FOUND,
    **ERRORS,
}

GET_DELIVERY_RESPONSES = {
    200: json_body("The delivery with every attempt", DeliveryDetailResponse),
    404: json_body("No such destination or delivery", ErrorResponse),
    **ERRORS,
}

LIST_DEAD_LETTERS_RESPONSES = {
    200: json_body("One page of dead letters, newest first", DeadLetterListResponse),
    400: json_body("Invalid cursor", ErrorResponse),
    **NOT_FOUND,
    **ERRORS,
}

RECOVERY_RESPONSES = replayable(
    {
        202: json_body("Started: its first page is queued, the rest continues in the background", RecoveryResponse),
        **BODY_ERRORS,
        **NOT_FOUND,
        **ERRORS,
    },
    conflicts="RECOVERY_RUNNING: a recovery of this destination is still running",
)

_REPLAY_RESPONSES = {202: json_body("Re-queued", ReplayResponse), **BODY_ERRORS, **NOT_FOUND, **ERRORS}

REPLAY_RESPONSES = replayable(_REPLAY_RESPONSES)

LIST_PARKED_EVENTS_RESPONSES = {
    200: json_body("One page of the workspace's parked events, newest first", ParkedEventListResponse),
    400: json_body("Invalid cursor", ErrorResponse),
    422: json_body("Invalid query", ErrorResponse),
    **ERRORS,
}

RECOVER_PARKED_EVENTS_RESPONSES = {202: json_body("Queued for fan-out again", RecoverResponse), **BODY_ERRORS, **ERRORS}

SUPPORT_LIST_DELIVERIES_RESPONSES = for_support(LIST_DELIVERIES_RESPONSES)

SUPPORT_LIST_DEAD_LETTERS_RESPONSES = for_support(LIST_DEAD_LETTERS_RESPONSES)

SUPPORT_REPLAY_RESPONSES = for_support(_REPLAY_RESPONSES)  # the admin route takes no Idempotency-Key

SUPPORT_LIST_PARKED_EVENTS_RESPONSES = for_support(LIST_PARKED_EVENTS_RESPONSES)

SUPPORT_RECOVER_PARKED_EVENTS_RESPONSES = for_support(RECOVER_PARKED_EVENTS_RESPONSES)
