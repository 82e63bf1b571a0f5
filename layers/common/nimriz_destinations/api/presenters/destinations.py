"""Destination records -> response models. Credentials are always the stored redacted hints (plus secrets
revealed once)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ...models.destinations import (
    Action,
    DeliveryRate,
    Destination,
    DestinationResponse,
    Health,
    UnhealthyDestination,
    UnhealthyDestinationListResponse,
)
from ...providers import get_provider

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ...storage.records import DestinationRecord, ShownCircuit


def _shown_circuit(record: DestinationRecord) -> ShownCircuit:
    return record.circuit.shown_state(time.time()) if record.circuit else "closed"


def _health(record: DestinationRecord, circuit: ShownCircuit) -> Health:
    return Health.model_validate({**asdict(record.health_view()), "circuit": circuit})


def present_destination(record: DestinationRecord, revealed: dict[str, Any] | None = None) -> Destination:
    circuit = _shown_circuit(record)
    return Destination(
        id=record.id,
        workspace_id=record.workspace_id,
        name=record.name,
        type=record.type,
        enabled=record.enabled,
        credentials={**record.credential_hints, **(revealed or {})},
        warnings=get_provider(record.type).credential_warnings(record.credential_hints),
        credentials_expire_at=record.credentials_expire_at,
        actions=[
            Action.model_validate(
                {
                    "id": action.id,
                    **action.configuration(),
                    "health": {**asdict(record.action_health_view(action)), "circuit": circuit},
                    "created_at": action.created_at,
                    "updated_at": action.updated_at,
                }
            )
            for action in record.actions
        ],
        health=_health(record, circuit),
        paused=record.paused,
        delivery_rate=None if record.delivery_rate is None else DeliveryRate(per_second=record.delivery_rate),
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def destination_answer(record: DestinationRecord) -> tuple[DestinationResponse, dict[str, str]]:
    """A destination read or enabled, and its ETag header."""
    return DestinationResponse(destination=present_destination(record)), {"ETag": record.etag}


def present_unhealthy_destinations(
    records: list[DestinationRecord], next_cursor: str | None
) -> UnhealthyDestinationListResponse:
    destinations = [
        UnhealthyDestination(
            workspace_id=record.workspace_id,
            id=record.id,
            name=record.name,
            type=record.type,
            enabled=record.enabled,
            health=_health(record, _shown_circuit(record)),
        )
        for record in records
    ]
    return UnhealthyDestinationListResponse(destinations=destinations, next_cursor=next_cursor)
