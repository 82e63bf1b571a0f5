"""What a destination looks like at rest (one DynamoDB item; its secret lives in Secrets Manager)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def action(self, action_id: str) -> ActionRecord | None:
        return next((a for a in self.actions if a.id == action_id), None)


@dataclass(frozen=True, slots=True)
class Workspace:
    workspace_id: str
    organization_id: str
