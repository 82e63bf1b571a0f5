"""API models of the destination routes: destinations and their actions, request bodies and responses."""

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, GetJsonSchemaHandler, Strict, WithJsonSchema, create_model
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from ..filters import EventFilter
from ..mapping import PropertyMapping
from ..providers import DESTINATION_TYPES
from .base import ActionType, ApiModel, Name, RequestBody, Uuid

MAX_ACTIONS = 50

MAX_DELIVERY_RATE_PER_SECOND = 1000


def _known_destination_type(value: str) -> str:
    if value not in DESTINATION_TYPES:
        raise ValueError(f"unknown destination type; expected one of: {', '.join(DESTINATION_TYPES)}")
    return value


DestinationType = Annotated[
    str,
    AfterValidator(_known_destination_type),
    WithJsonSchema({"type": "string", "enum": list(DESTINATION_TYPES)}),
]


class ActionInput(RequestBody):
    id: Uuid | None = Field(default=None, description="Existing action id to keep it on update; omit for new actions.")
    name: Name
    action_type: ActionType
    enabled: bool = True
    property_mapping: PropertyMapping = Field(default_factory=PropertyMapping)
    event_filter: EventFilter = Field(default_factory=EventFilter)
    settings: dict[str, Any] | None = Field(default=None, description="Only for interstitial_settings actions.")


class DeliveryRate(RequestBody):
    per_second: int = Field(
        strict=True, ge=1, le=MAX_DELIVERY_RATE_PER_SECOND,
        description="Events sent at most per second to this destination, whatever the number of dispatchers; "
        "events over it wait (status `throttled`) without using an attempt.",
    )  # fmt: skip


class DestinationCreate(RequestBody):
    name: Name
    type: DestinationType
    enabled: bool = True
    delivery_rate: DeliveryRate | None = Field(default=None, description="Omitted or null: unlimited.")
    credentials: dict[str, Any] | None = Field(
        default=None, description="Per destination type; secret fields are stored in Secrets Manager only."
    )
    actions: Annotated[list[ActionInput], Field(min_length=1, max_length=MAX_ACTIONS)]

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # Documented as one variant per destination type (discriminated by `type`), each with that type's own
        # credentials schema, so the OpenAPI document says exactly what each type accepts. Validation itself stays
        # generic here and per type in the service, which reports precise `credentials.<field>` paths.
        variants = {kind: handler(model.__pydantic_core_schema__) for kind, model in _create_variants().items()}
        return {
            "oneOf": list(variants.values()),
            "discriminator": {"propertyName": "type", "mapping": {k: v["$ref"] for k, v in variants.items()}},
        }


class DestinationUpdate(RequestBody):
    name: Name
    type: DestinationType | None = Field(default=None, description="Cannot change; when given it must match.")
    enabled: bool | None = Field(default=None, description="Omitted keeps the current value.")
    delivery_rate: DeliveryRate | None = Field(default=None, description="Omitted or null: unlimited.")
    credentials: dict[str, Any] | None = Field(default=None, description="Omitted keeps the stored credentials.")
    actions: Annotated[list[ActionInput], Field(min_length=1, max_length=MAX_ACTIONS)]

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The stored type decides which credentials schema applies: documented as any one of them (or omitted).
        schema = handler.resolve_ref_schema(handler(core_schema))
        credentials = [handler(model.__pydantic_core_schema__) for model in _credential_models().values()]
        schema["properties"]["credentials"] = {
            "anyOf": [*credentials, {"type": "null"}],
            "description": schema["properties"]["credentials"].get("description", ""),
        }
        return schema


@cache
def _credential_models() -> dict[str, type[BaseModel]]:
    # Imported here, not at module import: only OpenAPI generation needs every provider module loaded.
    from ..providers import get_provider

    return {kind: get_provider(kind).credentials_model for kind in DESTINATION_TYPES}


@cache
def _create_variants() -> dict[str, type[BaseModel]]:
    """Schema-only models: the create body of one destination type (documentation, never used to validate)."""
    variants: dict[str, type[BaseModel]] = {}
    for kind, credentials_model in _credential_models().items():
        # A type without credentials accepts none (or an empty object); every other type requires its own.
        credentials: Any = (credentials_model, ...)
        if not credentials_model.model_fields:
            credentials = (dict[str, Any] | None, Field(default=None, max_length=0))
        variants[kind] = create_model(
            f"DestinationCreate_{kind}",
            __base__=RequestBody,
            name=(Name, ...),
            type=(Literal[kind], ...),  # type: ignore[arg-type]
            enabled=(bool, True),
            credentials=credentials,
            actions=(Annotated[list[ActionInput], Field(min_length=1, max_length=MAX_ACTIONS)], ...),
        )
    return variants


MAX_SIGNING_OVERLAP_SECONDS = 7 * 86400


class SigningSecretRotate(RequestBody):
    overlap_seconds: Annotated[int, Strict(), Field(ge=0, le=MAX_SIGNING_OVERLAP_SECONDS)] = Field(
        description="How long the current secret keeps signing beside the new one (0 to 7 days, in seconds); 0 "
        "stops it at once."
    )


class SigningSecretRotated(ApiModel):
    signing_secret: str = Field(description="The new signing secret, shown only in this response.")
    previous_secret_expires_at: str | None = Field(
        description="Until when requests carry a second signature made with the replaced secret (RFC 3339); null "
        "when overlap_seconds was 0."
    )


class Health(ApiModel):
    state: Literal["healthy", "failing", "disabled"] = Field(
        default="healthy",
        description=(
            "`failing` after a run of failed attempts with no success, `disabled` when Nimriz disabled the "
            "destination (no success for AUTO_DISABLE_AFTER_SECONDS with at least AUTO_DISABLE_MIN_FAILURES "
            "failures, or a webhook answering 410 Gone); re-enabling it makes it `healthy` again. An action is "
            "`disabled` with its destination."
        ),
    )
    since: str | None = Field(default=None, description="When the current state began.")
    consecutive_failures: int = 0
    last_success_at: str | None = None
    last_failure_at: str | None = None
    disabled_reason: str | None = Field(default=None, description="Why Nimriz disabled it (state `disabled` only).")
    circuit: Literal["closed", "open", "half_open"] = Field(
        default="closed",
        description=(
            "The destination's circuit breaker: `open` after repeated timeouts, network errors or 5xx answers "
            "(its jobs wait unsent, not counted as attempts), `half_open` once the cool-down ended (one probe "
            "request decides), `closed` otherwise. The same for every action of the destination."
        ),
    )


class Action(ApiModel):
    id: str
    name: str
    action_type: ActionType
    enabled: bool
    property_mapping: PropertyMapping
    event_filter: EventFilter
    settings: dict[str, Any] | None = None
    health: Health = Field(default_factory=Health)
    created_at: str
    updated_at: str


class Destination(ApiModel):
    id: str
    workspace_id: str
    name: str
    type: str
    enabled: bool
    credentials: dict[str, Any] = Field(description="Redacted: secret fields show at most their last 4 characters.")
    warnings: list[str] = Field(
        default_factory=list,
        description="What to act on about the credentials, e.g. a token that will expire; never blocks delivery.",
    )
    actions: list[Action]
    credentials_expire_at: str | None = Field(
        default=None,
        description="When the stored credentials stop working (e.g. a LinkedIn refresh token), once a delivery "
        "learned it; null when unknown or never.",
    )
    health: Health = Field(default_factory=Health, description="Across the destination's actions.")
    paused: bool = Field(
        default=False,
        description="Paused (`POST …/pause`): matched events are kept as `held` deliveries, sent on `POST …/resume`.",
    )
    delivery_rate: DeliveryRate | None = Field(default=None, description="null: unlimited.")
    version: int
    created_at: str
    updated_at: str


class DestinationResponse(ApiModel):
    destination: Destination


class DestinationListResponse(ApiModel):
    destinations: list[Destination]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


class UnhealthyDestination(ApiModel):
    workspace_id: str
    id: str
    name: str
    type: str
    enabled: bool
    health: Health = Field(description="As the workspace API shows it.")


class UnhealthyDestinationListResponse(ApiModel):
    destinations: list[UnhealthyDestination] = Field(description="The most recent transitions first.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")
