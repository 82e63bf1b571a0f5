"""API models of the delivery log, dead letters, replays, parked events and recoveries."""

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic.json_schema import JsonDict

from .base import ApiModel, RequestBody, Rfc3339, Uuid

# `throttled`: waiting for its destination's delivery rate (design §8.11), no attempt used.
DeliveryStatus = Literal["retrying", "throttled", "held", "delivered", "dead_lettered", "skipped"]


class DeliverySummaryOut(ApiModel):
    id: str
    destination_id: str
    action_id: str
    event_id: str
    event_type: str
    reason: Literal["live", "replay", "test"]
    status: DeliveryStatus
    attempts: int
    last_http_status: int | None
    last_error_class: str | None
    last_message: str | None
    created_at: str
    updated_at: str


class AttemptOut(ApiModel):
    attempt: int | None = Field(
        description="The request's number (its X-Nim-Delivery-Attempt); null for a failure before any request went "
        "out (authorization, building the request, the mapping), which is tried again without counting as an attempt."
    )
    reason: Literal["live", "retry", "replay", "test"]
    outcome: Literal["delivered", "retry", "throttled", "permanent", "skipped"] = Field(
        description="`throttled`: the provider's rate limit refused the request; it is tried again after the "
        "provider's stated wait and, up to 12 such answers, does not count against the 6 attempts. With a null "
        "`attempt`: the destination's `delivery_rate` held it back before any request, no attempt used."
    )
    http_status: int | None
    duration_ms: int | None
    error_class: str | None
    message: str | None
    response_excerpt: str | None = Field(description="At most 1 KB of the response body, secrets redacted.")
    request: dict[str, Any] | None = Field(description="Method and URL of the request (secrets redacted).")
    attempted_at: str
    next_attempt_at: str | None


class DeliveryListResponse(ApiModel):
    deliveries: list[DeliverySummaryOut]
    next_cursor: str | None = None


class DeliveryDetail(DeliverySummaryOut):
    attempt_log: list[AttemptOut]


class DeliveryDetailResponse(ApiModel):
    delivery: DeliveryDetail


class DeadLetterOut(ApiModel):
    id: str = Field(description="The dead delivery's id; pass it to replay.")
    action_id: str
    event_id: str
    event_type: str
    error_class: str | None
    message: str | None
    http_status: int | None
    response_excerpt: str | None
    attempts: int
    dead_lettered_at: str


class DeadLetterListResponse(ApiModel):
    dead_letters: list[DeadLetterOut]
    next_cursor: str | None = None


def _array_only(schema: JsonDict) -> None:
    """Document an optional array as the array alone: no null member, no null default."""
    members = cast(list[JsonDict], schema.pop("anyOf"))
    schema.update(next(member for member in members if member.get("type") != "null"))
    del schema["default"]


class ReplayRequest(RequestBody):
    # Absent means all; an explicit null is refused rather than read as "all", so the documented schema is the
    # array alone. (`| None` rather than a SkipJsonSchema union keeps validation errors at `ids[<index>]`.)
    ids: Annotated[list[Uuid], Field(min_length=1, max_length=500)] | None = Field(
        default=None,
        description="Dead letter ids to replay; omit to replay all (up to 500 per call).",
        json_schema_extra=_array_only,
    )

    @field_validator("ids", mode="before")
    @classmethod
    def _ids_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be a non-empty list of dead letter ids; omit ids to replay all")
        return value


class ReplayedOut(ApiModel):
    dead_letter_id: str
    delivery_id: str = Field(description="The new delivery; it shows in the delivery log with reason replay.")
    event_id: str
    action_id: str


class ReplayResponse(ApiModel):
    replayed: list[ReplayedOut]


class ParkedEventOut(ApiModel):
    id: str = Field(description="The parked event's id; pass it to recover.")
    event_id: str | None = Field(description="The canonical event's id, when its body has one.")
    event_type: str | None
    reason: str = Field(description="Why fan-out could not handle it: what made it invalid, or how often it failed.")
    receive_count: int = Field(description="How many times SQS had handed the event out when it was parked.")
    parked_at: str


class ParkedEventListResponse(ApiModel):
    parked_events: list[ParkedEventOut]
    next_cursor: str | None = None


class RecoverRequest(RequestBody):
    ids: Annotated[list[Uuid], Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="Parked event ids to recover; omit to recover all (up to 500 per call)."
    )


class RecoveredOut(ApiModel):
    id: str = Field(description="The parked event's id; it is no longer parked.")
    event_id: str | None


class RecoverResponse(ApiModel):
    recovered: list[RecoveredOut]


RecoverableStatus = Literal["failed", "dead_lettered", "skipped", "held"]


class RecoverDeliveriesRequest(RequestBody):
    since: Rfc3339 = Field(description="Deliveries from this instant (the event's occurred_at for live deliveries).")
    until: Rfc3339 | None = Field(default=None, description="Up to this instant, inclusive; default: now.")
    statuses: Annotated[list[RecoverableStatus], Field(min_length=1, max_length=4)] = Field(
        description="`failed`: waiting for a retry; `dead_lettered`; `skipped` (e.g. `destination_disabled`); "
        "`held` (by a pause). A `delivered` delivery is never sent again."
    )
    event_types: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
                           Field(min_length=1, max_length=50)] | None = None  # fmt: skip
    action_id: Uuid | None = None

    @field_validator("until")
    @classmethod
    def _until_after_since(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and until < since:
            raise ValueError("must not be before since")
        return until


class RecoveryOut(ApiModel):
    id: str
    matched: int = Field(description="Deliveries found matching when the answer was made (its first page).")
    queued: int = Field(
        description="Of them, queued again by then; a large recovery goes on in the background, one at a time per "
        "destination."
    )


class RecoveryResponse(ApiModel):
    recovery: RecoveryOut
