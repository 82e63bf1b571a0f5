"""What a destination looks like at rest (one DynamoDB item; its secret lives in Secrets Manager)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ShownCircuit = Literal["closed", "open", "half_open"]


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


@dataclass(slots=True)
class ActionHealth:
    last_success_at: str | None = None
    last_failure_at: str | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True, slots=True)
class CircuitRecord:
    """The destination's circuit as the dispatchers last persisted it: `open` until `until` (epoch seconds),
    then one probe is allowed (half-open) until a dispatcher records it closed or open again."""

    state: str  # closed | open
    opened_at: float | None = None  # epoch seconds
    until: float | None = None

    def shown_state(self, now: float) -> ShownCircuit:
        if self.state != "open":
            return "closed"
        return "open" if self.until is not None and now < self.until else "half_open"


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
    circuit: CircuitRecord | None = None

    def action(self, action_id: str) -> ActionRecord | None:
        return next((a for a in self.actions if a.id == action_id), None)


@dataclass(frozen=True, slots=True)
class Workspace:
    workspace_id: str
    organization_id: str
