"""What a destination looks like at rest (one DynamoDB item; its secret lives in Secrets Manager)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ShownCircuit = Literal["closed", "open", "half_open"]
HealthState = Literal["healthy", "failing", "disabled"]
UnhealthyState = Literal["failing", "disabled"]  # the states the health index lists (storage/destinations.py)


@dataclass(slots=True)
class ActionRecord:
    id: str
    name: str
    action_type: str
    enabled: bool
    property_mapping: dict[str, Any]
    event_filter: dict[str, Any]
    settings: dict[str, Any] | None
    created_at: str
    updated_at: str

    def configuration(self) -> dict[str, Any]:
        """What its owner configured, as stored (an action of a PUT body, less its id): what the API shows, a PATCH
        merges onto and the audit log compares."""
        return {
            "name": self.name,
            "action_type": self.action_type,
            "enabled": self.enabled,
            "event_filter": self.event_filter,
            "property_mapping": self.property_mapping,
            "settings": self.settings,
        }


@dataclass(slots=True)
class ActionHealth:
    last_success_at: str | None = None
    last_failure_at: str | None = None
    consecutive_failures: int = 0
    failing: bool = False  # set and cleared by the dispatcher's transitions
    since: str | None = None  # when the action last became failing or healthy again


@dataclass(slots=True)
class DestinationHealth:
    """The destination's own health across its actions (a success of any action ends a run of failures)."""

    state: HealthState = "healthy"
    since: str | None = None  # when the state was entered; None: healthy since the destination was created
    consecutive_failures: int = 0
    last_success_at: str | None = None
    last_failure_at: str | None = None
    run_started_at: str | None = None  # the first failure since the last success: the auto-disable clock
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class HealthView:
    """Health as the API and operational notices show it."""

    state: HealthState
    since: str | None
    consecutive_failures: int
    last_success_at: str | None
    last_failure_at: str | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class CircuitRecord:
    """The destination's circuit as the dispatchers last persisted it: `open` until `until` (epoch seconds), then
    half-open for one more cool-down (a probe is due); `closed` since `closed_at` (by a success, or a re-enable).
    The newer of this and a dispatcher's own view wins (delivery/circuit.py)."""

    state: str  # closed | open
    opened_at: float | None = None  # epoch seconds
    until: float | None = None
    closed_at: float | None = None

    @property
    def changed_at(self) -> float:
        return (self.opened_at if self.state == "open" else self.closed_at) or 0.0

    def shown_state(self, now: float) -> ShownCircuit:
        if self.state != "open" or self.until is None:
            return "closed"
        if now < self.until:
            return "open"
        cool_down = self.until - (self.opened_at if self.opened_at is not None else self.until)
        # No probe reported within one more cool-down: the circuit has lapsed, the next sends decide.
        return "half_open" if now < self.until + cool_down else "closed"


@dataclass(slots=True)
class DestinationRecord:
    id: str
    workspace_id: str
    organization_id: str
    name: str
    type: str
    enabled: bool
    actions: list[ActionRecord]
    credential_hints: dict[str, Any]
    secret_arn: str | None
    secret_version: str | None
    version: int
    created_at: str
    updated_at: str
    # Maintained by the dispatcher on the item, outside the versioned document.
    health: dict[str, ActionHealth] = field(default_factory=dict)
    destination_health: DestinationHealth = field(default_factory=DestinationHealth)
    circuit: CircuitRecord | None = None
    credentials_expire_at: str | None = None  # learned by the dispatcher (e.g. an OAuth refresh token's expiry)
    # Set by pause, removed by resume, outside the versioned document: while set, the dispatcher holds the
    # destination's deliveries (design §2.2).
    paused_at: str | None = None
    # Events sent at most per second (design §8.11); None: unlimited. Versioned with the document, kept beside it
    # on the item so the dispatcher's batch check reads it without parsing the document.
    delivery_rate: int | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def etag(self) -> str:
        """The HTTP ETag of this version (an `If-Match` on update must name it)."""
        return f'"v{self.version}"'

    def action(self, action_id: str) -> ActionRecord | None:
        return next((a for a in self.actions if a.id == action_id), None)

    def health_view(self) -> HealthView:
        health = self.destination_health
        return HealthView(
            state=health.state,
            since=health.since or self.created_at,
            consecutive_failures=health.consecutive_failures,
            last_success_at=health.last_success_at,
            last_failure_at=health.last_failure_at,
            disabled_reason=health.disabled_reason if health.state == "disabled" else None,
        )

    def action_health_view(self, action: ActionRecord) -> HealthView:
        """An action is disabled with its destination; otherwise failing or healthy by its own run of failures."""
        health = self.health.get(action.id, ActionHealth())
        destination = self.health_view()
        if destination.state == "disabled":
            state: HealthState = "disabled"
            since = destination.since
        else:
            state = "failing" if health.failing else "healthy"
            since = health.since or action.created_at
        return HealthView(
            state=state,
            since=since,
            consecutive_failures=health.consecutive_failures,
            last_success_at=health.last_success_at,
            last_failure_at=health.last_failure_at,
            disabled_reason=destination.disabled_reason,
        )


@dataclass(frozen=True, slots=True)
class Workspace:
    workspace_id: str
    organization_id: str
