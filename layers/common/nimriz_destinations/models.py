"""API contract models: request bodies and responses (they drive validation and the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from .filters import EventFilter
from .mapping import PropertyMapping
from .providers import DESTINATION_TYPES

ActionType = Literal["send_event", "send_conversion", "send_webhook", "interstitial_settings"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Uuid = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", to_lower=True),
]

MAX_ACTIONS = 50


def _known_destination_type(value: str) -> str:
    if value not in DESTINATION_TYPES:
        raise ValueError(f"unknown destination type; expected one of: {', '.join(DESTINATION_TYPES)}")
    return value


DestinationType = Annotated[
    str,
    AfterValidator(_known_destination_type),
    WithJsonSchema({"type": "string", "enum": list(DESTINATION_TYPES)}),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionInput(_Input):
    id: Uuid | None = Field(default=None, description="Existing action id to keep it on update; omit for new actions.")
    name: Name
    action_type: ActionType
    enabled: bool = True
    property_mapping: PropertyMapping = Field(default_factory=PropertyMapping)
    event_filter: EventFilter = Field(default_factory=EventFilter)
    settings: dict[str, Any] | None = Field(default=None, description="Only for interstitial_settings actions.")


class DestinationCreate(_Input):
    name: Name
    type: DestinationType
    enabled: bool = True
    credentials: dict[str, Any] | None = Field(
        default=None, description="Per destination type; secret fields are stored in Secrets Manager only."
    )
    actions: Annotated[list[ActionInput], Field(min_length=1, max_length=MAX_ACTIONS)]


class DestinationUpdate(_Input):
    name: Name
    type: DestinationType | None = Field(default=None, description="Cannot change; when given it must match.")
    enabled: bool | None = Field(default=None, description="Omitted keeps the current value.")
    credentials: dict[str, Any] | None = Field(default=None, description="Omitted keeps the stored credentials.")
    actions: Annotated[list[ActionInput], Field(min_length=1, max_length=MAX_ACTIONS)]


class TestSendRequest(_Input):
    action_id: Uuid | None = None


class Health(BaseModel):
    last_success_at: str | None = None
    last_failure_at: str | None = None
    consecutive_failures: int = 0


class Action(BaseModel):
    id: str
    name: str
    action_type: ActionType
    enabled: bool
    property_mapping: PropertyMapping
    event_filter: EventFilter
    settings: dict[str, Any] | None = None
    created_at: str
    updated_at: str


class Destination(BaseModel):
    id: str
    workspace_id: str
    name: str
    type: str
    enabled: bool
    credentials: dict[str, Any] = Field(description="Redacted: secret fields show at most their last 4 characters.")
    actions: list[Action]
    version: int
    created_at: str
    updated_at: str


class DestinationResponse(BaseModel):
    destination: Destination


class DestinationListResponse(BaseModel):
    destinations: list[Destination]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


class QueuedDelivery(BaseModel):
    id: str = Field(description="Delivery id; the delivery log shows its outcome.")
    destination_id: str
    action_id: str
    event_id: str
    event_type: str
    reason: Literal["test"]
    status: Literal["queued"]
    queued_at: str


class TestSendResponse(BaseModel):
    delivery: QueuedDelivery


class ErrorDetail(BaseModel):
    path: str
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    support_reference: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody
