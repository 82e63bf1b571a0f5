"""API models of a workspace's API keys, quotas, request limits and audit log."""

from typing import Annotated, Any, Literal, Self

from pydantic import Field, Strict, StringConstraints, model_validator

from ..ids import PLATFORM_ID_PATTERN
from ..limits import MAX_BURST, MAX_REQUESTS_PER_SECOND, Limits
from ..quotas import QUOTA_CEILING
from ..scopes import Scope
from .base import ApiModel, Name, RequestBody, Rfc3339

# Workspace and organization ids name DynamoDB partitions and Secrets Manager paths: a conservative alphabet.
PlatformId = Annotated[str, StringConstraints(pattern=PLATFORM_ID_PATTERN)]

MAX_OVERLAP_SECONDS = 30 * 86400


class ApiKeyCreate(RequestBody):
    label: Name
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=20, description="What the key may do.")]
    organization_id: PlatformId
    expires_at: Rfc3339 | None = Field(default=None, description="In the future; omit for a key that never expires.")


class ApiKeyRotate(RequestBody):
    overlap_seconds: Annotated[int, Strict(), Field(ge=0, le=MAX_OVERLAP_SECONDS)] = Field(
        description="How long the old key keeps working (0 to 30 days, in seconds); 0 stops it at once."
    )
    expires_at: Rfc3339 | None = Field(
        default=None, description="When the new key expires, in the future; omit for a key that never expires."
    )


class ApiKeyUpdate(RequestBody):
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


class QuotasUpdate(RequestBody):
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


class QuotasOut(ApiModel):
    destinations: int
    actions: int
    deliveries_per_event: int


class QuotasResponse(ApiModel):
    quotas: QuotasOut


class LimitsUpdate(RequestBody):
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


class LimitsOut(ApiModel):
    requests_per_second: int
    burst: int


class LimitsResponse(ApiModel):
    limits: LimitsOut


class ApiKeyOut(ApiModel):
    id: str
    label: str
    scopes: list[Scope]
    prefix: str = Field(description="The secret's first characters, to recognise the key by.")
    created_at: str
    expires_at: str | None
    last_used_at: str | None = Field(description="Updated at most once a minute.")


class ApiKeyCreatedResponse(ApiModel):
    api_key: ApiKeyOut
    secret: str = Field(description="The key itself: shown this once, stored only as a hash.")


class ApiKeyListResponse(ApiModel):
    api_keys: list[ApiKeyOut]


class AuditActorOut(ApiModel):
    type: Literal["api_key", "admin", "system"] = Field(
        description="`admin` for the admin API (API keys, quotas, what support does for the workspace), `system` "
        "for changes Nimriz made itself (auto-disable)."
    )
    id: str = Field(
        description="The API key's id (`unknown` when the request did not identify it), an opaque `adm_…` id "
        "for an admin of the Nimriz platform (stable per admin; never an AWS identity), or `system`."
    )


class AuditTargetOut(ApiModel):
    type: str = Field(description="What was changed, e.g. `destination` or `api_key`.")
    id: str


class AuditChangeOut(ApiModel):
    path: str = Field(description="The changed field, e.g. `name` or `actions[<action id>].enabled`.")
    before: Any = Field(description="The value before (null when added); secret fields only as their hint.")
    after: Any = Field(description="The value after (null when removed); secret fields only as their hint.")


class AuditEntryOut(ApiModel):
    id: str
    at: str
    actor: AuditActorOut
    action: str = Field(
        description="e.g. `destination.created`, `destination.updated`, `destination.disabled`, and support's "
        "`dead_letters.replayed` and `parked_events.recovered`."
    )
    target: AuditTargetOut
    changes: list[AuditChangeOut]


class AuditLogResponse(ApiModel):
    audit_log: list[AuditEntryOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next (older) page.")
