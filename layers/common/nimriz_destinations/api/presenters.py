"""Records -> response models. Credentials are always the stored redacted hints (plus secrets revealed once)."""

from __future__ import annotations

from typing import Any

from ..models import Action, Destination
from ..storage.records import DestinationRecord


def present_destination(record: DestinationRecord, revealed: dict[str, Any] | None = None) -> Destination:
    return Destination(
        id=record.id,
        workspace_id=record.workspace_id,
        name=record.name,
        type=record.type,
        enabled=record.enabled,
        credentials={**record.credential_hints, **(revealed or {})},
        actions=[
            Action.model_validate(
                {
                    "id": action.id,
                    "name": action.name,
                    "action_type": action.action_type,
                    "enabled": action.enabled,
                    "property_mapping": action.property_mapping,
                    "event_filter": action.event_filter,
                    "settings": action.settings,
                    "created_at": action.created_at,
                    "updated_at": action.updated_at,
                }
            )
            for action in record.actions
        ],
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
