"""API models of what a destination would do with an event: test sends, their validation, previews."""

from typing import Annotated, Any, Literal

from pydantic import Field

from ..providers.test_event_code import TestEventCode
from .base import ActionType, ApiModel, RequestBody, Uuid
from .destinations import DestinationCreate


class TestSendRequest(RequestBody):
    action_id: Uuid | None = None
    mode: Literal["queue", "validate"] = Field(
        default="queue",
        description="queue: the test event is queued and delivered like any event (202; the delivery log shows it). "
        "validate: the sample event goes through the action's filter and mapping, and the request through the "
        "provider's validation channel where it has one, at once (200); nothing is delivered or recorded.",
    )
    test_event_code: TestEventCode | None = Field(
        default=None,
        description="validate mode, Meta and TikTok: the code of the platform's Test Events tool to validate with, "
        "in place of the destination's own test_event_code.",
    )


class QueuedDelivery(ApiModel):
    id: str = Field(description="Delivery id; the delivery log shows its outcome.")
    destination_id: str
    action_id: str
    event_id: str
    event_type: str
    reason: Literal["test"]
    status: Literal["queued"]
    queued_at: str


class TestSendResponse(ApiModel):
    delivery: QueuedDelivery


class ValidationMessageOut(ApiModel):
    description: str
    field_path: str | None = Field(description="Where in the request, as the provider names it (GA4's fieldPath).")
    code: str | None = Field(
        description="The provider's code for it (GA4's validationCode), or the outcome's error class."
    )


ValidationStatus = Literal["valid", "invalid", "not_available", "not_sent", "error"]


class ProviderValidationOut(ApiModel):
    status: ValidationStatus = Field(
        description="valid: the provider's validation channel accepted the request. invalid: it refused it (messages "
        "say why), or Nimriz would not send it. not_available: the destination has no validation channel, so "
        "nothing was sent. not_sent: the action's filter rejects the sample event, so nothing was sent. error: no "
        "verdict (no answer in time, a server error, a throttle, an answer that could not be read); try again."
    )
    channel: str | None = Field(description="What the request was sent to instead of production ingestion.")
    messages: list[ValidationMessageOut] = Field(
        description="What the provider said (or why nothing was sent); empty when it had nothing to say."
    )


class ValidationOut(ApiModel):
    action_id: str
    event_type: str = Field(description="The type of the sample event validated.")
    filter: Literal["matched", "filtered_out"]
    rejected_by: str | None = Field(description="The filter rule that rejected the sample event.")
    request: dict[str, Any] | None = Field(
        description="The request as sent (or, with no channel, as it would be), shown as preview shows requests: "
        "secrets and values computed from them redacted. Null when nothing was built."
    )
    provider: ProviderValidationOut


class TestSendValidationResponse(ApiModel):
    validation: ValidationOut


class PreviewRequest(RequestBody):
    action_id: Uuid | None = None
    event: dict[str, Any] | None = Field(default=None, description="A canonical event v1; default: a sample.")


class NewDestinationPreviewRequest(RequestBody):
    destination: DestinationCreate
    action_index: Annotated[int, Field(ge=0)] | None = None
    event: dict[str, Any] | None = Field(default=None, description="A canonical event v1; default: a sample.")


class FilterVerdictOut(ApiModel):
    passed: bool
    rejected_by: str | None = Field(description="The filter rule that rejected the event, e.g. include.event_types.")


class ActionPreviewOut(ApiModel):
    action_id: str | None
    name: str
    action_type: ActionType
    enabled: bool
    filter: FilterVerdictOut
    payload: dict[str, Any] | None
    requests: list[dict[str, Any]] = Field(
        description="Exact requests that would be sent, secrets as [redacted] and values computed from them "
        "(signatures, Basic tokens, access tokens) as placeholders such as [computed at send]."
    )
    note: str | None


class PreviewResponse(ApiModel):
    event: dict[str, Any]
    actions: list[ActionPreviewOut]
