"""API contract models: request bodies and responses (they drive validation and the OpenAPI document)."""

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, Self, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonDict, JsonSchemaValue
from pydantic_core import CoreSchema

from .filters import EventFilter
from .ids import ID_PATTERN, PLATFORM_ID_PATTERN
from .limits import MAX_BURST, MAX_REQUESTS_PER_SECOND, Limits
from .mapping import PropertyMapping
from .providers import DESTINATION_TYPES
from .providers.test_event_code import TestEventCode
from .quotas import QUOTA_CEILING
from .scopes import Scope
from .text import SINGLE_LINE_TEXT

ActionType = Literal["send_event", "send_conversion", "send_webhook", "interstitial_settings"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), SINGLE_LINE_TEXT]
# An id in a request body, in the lower case the API answers with (ids.py): pydantic checks a pattern before any
# `to_lower`, so ids in other cases are refused either way.
Uuid = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

MAX_ACTIONS = 50
MAX_DELIVERY_RATE_PER_SECOND = 1000
# The metrics route counts a destination's throttled backlog up to this many deliveries (storage/deliveries.py).
BACKLOG_COUNT_LIMIT = 10_000


def _known_destination_type(value: str) -> str:
    if value not in DESTINATION_TYPES:
        raise ValueError(f"unknown destination type; expected one of: {', '.join(DESTINATION_TYPES)}")
    return value


DestinationType = Annotated[
    str,
    AfterValidator(_known_destination_type),
    WithJsonSchema({"type": "string", "enum": list(DESTINATION_TYPES)}),
]


class _Model(BaseModel):
    # Validators are built at a model's first use, not at import: each function uses a few of these models.
    model_config = ConfigDict(defer_build=True)


class _Input(_Model):
    model_config = ConfigDict(extra="forbid")


class ActionInput(_Input):
    id: Uuid | None = Field(default=None, description="Existing action id to keep it on update; omit for new actions.")
    name: Name
    action_type: ActionType
    enabled: bool = True
    property_mapping: PropertyMapping = Field(default_factory=PropertyMapping)
    event_filter: EventFilter = Field(default_factory=EventFilter)
    settings: dict[str, Any] | None = Field(default=None, description="Only for interstitial_settings actions.")


class DeliveryRate(_Input):
    per_second: int = Field(
        strict=True, ge=1, le=MAX_DELIVERY_RATE_PER_SECOND,
        description="Events sent at most per second to this destination, whatever the number of dispatchers; "
        "events over it wait (status `throttled`) without using an attempt.",
    )  # fmt: skip


class DestinationCreate(_Input):
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


class DestinationUpdate(_Input):
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
    from .providers import get_provider

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
            __base__=_Input,
            name=(Name, ...),
            type=(Literal[kind], ...),  # type: ignore[arg-type]
            enabled=(bool, True),
            credentials=credentials,
            actions=(Annotated[list[ActionInput], Field(min_length=1, max_length=MAX_ACTIONS)], ...),
        )
    return variants


class TestSendRequest(_Input):
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


MAX_SIGNING_OVERLAP_SECONDS = 7 * 86400


class SigningSecretRotate(_Input):
    overlap_seconds: Annotated[int, Strict(), Field(ge=0, le=MAX_SIGNING_OVERLAP_SECONDS)] = Field(
        description="How long the current secret keeps signing beside the new one (0 to 7 days, in seconds); 0 "
        "stops it at once."
    )


class SigningSecretRotated(_Model):
    signing_secret: str = Field(description="The new signing secret, shown only in this response.")
    previous_secret_expires_at: str | None = Field(
        description="Until when requests carry a second signature made with the replaced secret (RFC 3339); null "
        "when overlap_seconds was 0."
    )


class Health(_Model):
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


class Action(_Model):
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


class Destination(_Model):
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


class DestinationResponse(_Model):
    destination: Destination


class DestinationListResponse(_Model):
    destinations: list[Destination]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


class UnhealthyDestination(_Model):
    workspace_id: str
    id: str
    name: str
    type: str
    enabled: bool
    health: Health = Field(description="As the workspace API shows it.")


class UnhealthyDestinationListResponse(_Model):
    destinations: list[UnhealthyDestination] = Field(description="The most recent transitions first.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


class QueuedDelivery(_Model):
    id: str = Field(description="Delivery id; the delivery log shows its outcome.")
    destination_id: str
    action_id: str
    event_id: str
    event_type: str
    reason: Literal["test"]
    status: Literal["queued"]
    queued_at: str


class TestSendResponse(_Model):
    delivery: QueuedDelivery


class ValidationMessageOut(_Model):
    description: str
    field_path: str | None = Field(description="Where in the request, as the provider names it (GA4's fieldPath).")
    code: str | None = Field(
        description="The provider's code for it (GA4's validationCode), or the outcome's error class."
    )


ValidationStatus = Literal["valid", "invalid", "not_available", "not_sent", "error"]


class ProviderValidationOut(_Model):
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


class ValidationOut(_Model):
    action_id: str
    event_type: str = Field(description="The type of the sample event validated.")
    filter: Literal["matched", "filtered_out"]
    rejected_by: str | None = Field(description="The filter rule that rejected the sample event.")
    request: dict[str, Any] | None = Field(
        description="The request as sent (or, with no channel, as it would be), shown as preview shows requests: "
        "secrets and values computed from them redacted. Null when nothing was built."
    )
    provider: ProviderValidationOut


class TestSendValidationResponse(_Model):
    validation: ValidationOut


class ErrorDetail(_Model):
    path: str
    reason: str


class ErrorBody(_Model):
    code: str
    message: str
    support_reference: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(_Model):
    error: ErrorBody


# `throttled`: waiting for its destination's delivery rate (design §8.11), no attempt used.
DeliveryStatus = Literal["retrying", "throttled", "held", "delivered", "dead_lettered", "skipped"]


class DeliverySummaryOut(_Model):
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


class AttemptOut(_Model):
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


class DeliveryListResponse(_Model):
    deliveries: list[DeliverySummaryOut]
    next_cursor: str | None = None


class DeliveryDetail(DeliverySummaryOut):
    attempt_log: list[AttemptOut]


class DeliveryDetailResponse(_Model):
    delivery: DeliveryDetail


class DeadLetterOut(_Model):
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


class DeadLetterListResponse(_Model):
    dead_letters: list[DeadLetterOut]
    next_cursor: str | None = None


def _array_only(schema: JsonDict) -> None:
    """Document an optional array as the array alone: no null member, no null default."""
    members = cast(list[JsonDict], schema.pop("anyOf"))
    schema.update(next(member for member in members if member.get("type") != "null"))
    del schema["default"]


class ReplayRequest(_Input):
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


class ReplayedOut(_Model):
    dead_letter_id: str
    delivery_id: str = Field(description="The new delivery; it shows in the delivery log with reason replay.")
    event_id: str
    action_id: str


class ReplayResponse(_Model):
    replayed: list[ReplayedOut]


class PreviewRequest(_Input):
    action_id: Uuid | None = None
    event: dict[str, Any] | None = Field(default=None, description="A canonical event v1; default: a sample.")


class NewDestinationPreviewRequest(_Input):
    destination: DestinationCreate
    action_index: Annotated[int, Field(ge=0)] | None = None
    event: dict[str, Any] | None = Field(default=None, description="A canonical event v1; default: a sample.")


class FilterVerdictOut(_Model):
    passed: bool
    rejected_by: str | None = Field(description="The filter rule that rejected the event, e.g. include.event_types.")


class ActionPreviewOut(_Model):
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


class PreviewResponse(_Model):
    event: dict[str, Any]
    actions: list[ActionPreviewOut]


class ParkedEventOut(_Model):
    id: str = Field(description="The parked event's id; pass it to recover.")
    event_id: str | None = Field(description="The canonical event's id, when its body has one.")
    event_type: str | None
    reason: str = Field(description="Why fan-out could not handle it: what made it invalid, or how often it failed.")
    receive_count: int = Field(description="How many times SQS had handed the event out when it was parked.")
    parked_at: str


class ParkedEventListResponse(_Model):
    parked_events: list[ParkedEventOut]
    next_cursor: str | None = None


class RecoverRequest(_Input):
    ids: Annotated[list[Uuid], Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="Parked event ids to recover; omit to recover all (up to 500 per call)."
    )


class RecoveredOut(_Model):
    id: str = Field(description="The parked event's id; it is no longer parked.")
    event_id: str | None


class RecoverResponse(_Model):
    recovered: list[RecoveredOut]


# Workspace and organization ids name DynamoDB partitions and Secrets Manager paths: a conservative alphabet.
PlatformId = Annotated[str, StringConstraints(pattern=PLATFORM_ID_PATTERN)]
MAX_OVERLAP_SECONDS = 30 * 86400
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _rfc3339_text(value: Any) -> Any:
    # Pydantic alone would also take numbers (Unix time) and dates without an offset.
    if not isinstance(value, str) or not _RFC3339.match(value.upper()):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2027-01-31T12:00:00Z")
    return value.upper()


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_text), WithJsonSchema({"type": "string", "format": "date-time"})]


class ApiKeyCreate(_Input):
    label: Name
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=20, description="What the key may do.")]
    organization_id: PlatformId
    expires_at: Rfc3339 | None = Field(default=None, description="In the future; omit for a key that never expires.")


class ApiKeyRotate(_Input):
    overlap_seconds: Annotated[int, Strict(), Field(ge=0, le=MAX_OVERLAP_SECONDS)] = Field(
        description="How long the old key keeps working (0 to 30 days, in seconds); 0 stops it at once."
    )
    expires_at: Rfc3339 | None = Field(
        default=None, description="When the new key expires, in the future; omit for a key that never expires."
    )


class ApiKeyUpdate(_Input):
    """Any of a key's label and scopes; what is omitted keeps its value."""

    label: Name | None = Field(default=None, description="The key's new label.")
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=20)] | None = Field(
        default=None, description="What the key may do from now on (replaces its scopes)."
    )

    @model_validator(mode="after")
    def _names_one(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one of label, scopes")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("omit the fields that do not change (null is not a value)")
        return self


QuotaValue = Annotated[int, Strict(), Field(ge=1, le=QUOTA_CEILING)]


class QuotasUpdate(_Input):
    """Any of the quotas; the others keep their value."""

    destinations: QuotaValue | None = Field(default=None, description="Destinations in the workspace.")
    actions: QuotaValue | None = Field(default=None, description="Actions of all its destinations together.")
    deliveries_per_event: QuotaValue | None = Field(
        default=None, description="Deliveries one event may fan out to (actions whose filters let its type through)."
    )

    @model_validator(mode="after")
    def _names_one(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name at least one of destinations, actions, deliveries_per_event")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("a quota is a whole number from 1; omit the ones that do not change")
        return self

    def changes(self) -> dict[str, int]:
        return {name: value for name in sorted(self.model_fields_set) if (value := getattr(self, name)) is not None}


class QuotasOut(_Model):
    destinations: int
    actions: int
    deliveries_per_event: int


class QuotasResponse(_Model):
    quotas: QuotasOut


class LimitsUpdate(_Input):
    """Both limits of a workspace's requests (a token bucket, design §9.6)."""

    requests_per_second: Annotated[int, Strict(), Field(ge=1, le=MAX_REQUESTS_PER_SECOND)] = Field(
        description="The steady rate the bucket refills at."
    )
    burst: Annotated[int, Strict(), Field(ge=1, le=MAX_BURST)] = Field(
        description="Requests that may arrive at once (the bucket's size); at least requests_per_second."
    )

    @model_validator(mode="after")
    def _burst_holds_a_second(self) -> Self:
        # A bucket smaller than one second's refill could never serve the rate to a client whose requests arrive
        # together (API Gateway throttles with a token bucket).
        if self.burst < self.requests_per_second:
            raise ValueError("burst must be at least requests_per_second")
        return self

    def limits(self) -> Limits:
        return Limits(requests_per_second=self.requests_per_second, burst=self.burst)


class LimitsOut(_Model):
    requests_per_second: int
    burst: int


class LimitsResponse(_Model):
    limits: LimitsOut


class ApiKeyOut(_Model):
    id: str
    label: str
    scopes: list[Scope]
    prefix: str = Field(description="The secret's first characters, to recognise the key by.")
    created_at: str
    expires_at: str | None
    last_used_at: str | None = Field(description="Updated at most once a minute.")


class ApiKeyCreatedResponse(_Model):
    api_key: ApiKeyOut
    secret: str = Field(description="The key itself: shown this once, stored only as a hash.")


class ApiKeyListResponse(_Model):
    api_keys: list[ApiKeyOut]


class AuditActorOut(_Model):
    type: Literal["api_key", "admin", "system"] = Field(
        description="`admin` for the admin API (API keys, quotas, what support does for the workspace), `system` "
        "for changes Nimriz made itself (auto-disable)."
    )
    id: str = Field(
        description="The API key's id (`unknown` when the request did not identify it), an opaque `adm_…` id "
        "for an admin of the Nimriz platform (stable per admin; never an AWS identity), or `system`."
    )


class AuditTargetOut(_Model):
    type: str = Field(description="What was changed, e.g. `destination` or `api_key`.")
    id: str


class AuditChangeOut(_Model):
    path: str = Field(description="The changed field, e.g. `name` or `actions[<action id>].enabled`.")
    before: Any = Field(description="The value before (null when added); secret fields only as their hint.")
    after: Any = Field(description="The value after (null when removed); secret fields only as their hint.")


class AuditEntryOut(_Model):
    id: str
    at: str
    actor: AuditActorOut
    action: str = Field(
        description="e.g. `destination.created`, `destination.updated`, `destination.disabled`, and support's "
        "`dead_letters.replayed` and `parked_events.recovered`."
    )
    target: AuditTargetOut
    changes: list[AuditChangeOut]


class AuditLogResponse(_Model):
    audit_log: list[AuditEntryOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next (older) page.")


MetricsWindow = Literal["1h", "24h", "7d"]


class MetricCounts(_Model):
    matched: int = Field(description="Events the action's filter passed (a delivery was queued).")
    filtered_out: int = Field(description="Events the action's filter rejected.")
    delivered: int = Field(description="Deliveries delivered.")
    failed: int = Field(description="Attempts sent that did not deliver (each retry counts).")
    retrying: int = Field(description="Failed attempts that were scheduled to be retried.")
    throttled: int = Field(
        description="Attempts the provider's rate limit refused, tried again at its time; not counted in failed."
    )
    dead_lettered: int = Field(description="Deliveries that became dead letters.")
    skipped: int = Field(description="Deliveries deliberately not sent (e.g. disabled, not applicable).")
    p50_latency_ms: int | None = Field(
        description="Median request latency, as the upper bound of its histogram bin; null without requests."
    )
    p95_latency_ms: int | None = Field(description="95th percentile request latency, like p50_latency_ms.")


class ActionMetrics(MetricCounts):
    action_id: str


class DestinationMetrics(_Model):
    window: MetricsWindow
    starts_at: str = Field(
        description="Start of the first hourly bucket counted: windows cover whole UTC hours, the current one included."
    )
    actions: list[ActionMetrics] = Field(description="Every current action of the destination.")
    totals: MetricCounts = Field(description="Across the listed actions (latency percentiles over all of them).")
    throttled_backlog: int = Field(
        description="Deliveries of the destination now waiting for its delivery rate (status `throttled`), counted "
        f"up to {BACKLOG_COUNT_LIMIT} (that number means at least as many)."
    )
    oldest_pending_seconds: int | None = Field(
        description="Age in seconds of the oldest delivery of the destination waiting for a next try (status "
        "`throttled` or `retrying`: its delivery rate, a provider's wait or a retry), from its event's occurred_at "
        "(a replay or test: when it was queued); null when none waits. Jobs never tried yet are not included."
    )


class DestinationMetricsResponse(_Model):
    metrics: DestinationMetrics


class ActionEstimate(_Model):
    action_id: str
    enabled: bool = Field(description="The action's own flag; the destination's is the destination's `enabled`.")
    matched: int = Field(
        description="Events the action's filter passed in the window, whether it (or its destination) was enabled "
        "and sent them or disabled and sent nothing."
    )
    matched_per_day: float = Field(
        description="`matched` per day over the time counted: the window, from the action's creation if later, and "
        "at least an hour."
    )


class Estimate(_Model):
    window: MetricsWindow
    actions: list[ActionEstimate] = Field(description="Every current action of the destination, enabled or not.")


class EstimateResponse(_Model):
    estimate: Estimate


RecoverableStatus = Literal["failed", "dead_lettered", "skipped", "held"]


class RecoverDeliveriesRequest(_Input):
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


class RecoveryOut(_Model):
    id: str
    matched: int = Field(description="Deliveries found matching when the answer was made (its first page).")
    queued: int = Field(
        description="Of them, queued again by then; a large recovery goes on in the background, one at a time per "
        "destination."
    )


class RecoveryResponse(_Model):
    recovery: RecoveryOut
