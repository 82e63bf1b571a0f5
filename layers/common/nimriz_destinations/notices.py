"""Operational notices: canonical events about a destination's health, delivered like any other event.

A notice has the canonical envelope (id, type, api_version, occurred_at, organization_id, workspace_id) and a
`notice` object: `destination_id`, `name`, `type`, `health`, `last_error_class`, `last_http_status`. Webhook
destinations send that object as the envelope's `data`; other destination types skip notices (`not_applicable`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from .event_fields import API_VERSION, NOTICE_EVENT_TYPES
from .storage.records import DestinationRecord

FAILING, DISABLED, RECOVERED = NOTICE_EVENT_TYPES
# Notice ids are derived from the transition, so a notice published twice is delivered once.
_NOTICE_IDS = uuid.UUID("6f1d8a52-3c4b-4e7a-9b0c-2d5e8f1a7c93")


def is_notice(event: Mapping[str, Any]) -> bool:
    return event.get("type") in NOTICE_EVENT_TYPES


def notice_event(
    record: DestinationRecord, kind: str, *, last_error_class: str | None, last_http_status: int | None
) -> dict[str, Any]:
    """The notice of type `kind` about `record`, as its health is after the transition."""
    health = record.health_view()
    at = health.since or record.updated_at
    return {
        "id": str(uuid.uuid5(_NOTICE_IDS, f"{record.workspace_id}/{record.id}/{kind}/{at}")),
        "type": kind,
        "api_version": API_VERSION,
        "occurred_at": at,
        "organization_id": record.organization_id,
        "workspace_id": record.workspace_id,
        "notice": {
            "destination_id": record.id,
            "name": record.name,
            "type": record.type,
            "health": asdict(health),
            "last_error_class": last_error_class,
            "last_http_status": last_http_status,
        },
    }


def notice_data(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a webhook sends as `data` for a notice: the `notice` object as it is (mappings do not apply)."""
    return dict(event["notice"])
