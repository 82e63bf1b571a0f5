"""Realistic, schema-valid canonical events for test-sends and previews (design §4).

Everything is fixed sample data except the event id and the timestamp, so previews are reproducible.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from .clock import iso_utc
from .event_fields import (
    API_VERSION,
    CARD_EVENT_TYPES,
    CONVERSION_EVENT_TYPES,
    EVENT_TYPES,
    PRIVACY_MODES,
    STRICT_PRIVACY_FIELDS,
)

_LINK = {
    "url_id": "0b9a3c3e-5d1f-4a7e-9a57-3f0c8f1d2b64",
    "domain_id": "7e2f4c1a-9b3d-4e8f-a6c5-1d0b2e3f4a5b",
    "domain_name": "go.example.com",
    "short_code": "spring-sale",
    "short_url": "https://go.example.com/spring-sale",
    "destination_host": "shop.example.com",
    "destination_url_capped": "https://shop.example.com/collections/spring",
    "space_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
    "tag_ids": ["5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"],
}
_CARD_LINK = _LINK | {
    "url_id": "6d7e8f90-1a2b-4c3d-9e4f-5a6b7c8d9e0f",
    "short_code": "jane",
    "short_url": "https://go.example.com/jane",
    "destination_host": "cards.example.com",
    "destination_url_capped": "https://cards.example.com/jane",
}
_CONTEXT = {
    "country": "US",
    "region": "CA",
    "city": "San Francisco",
    "colo": "SJC",
    "device_category": "mobile",
    "browser_family": "Safari",
    "os_family": "iOS",
    "referrer": "https://www.instagram.com/",
    "referrer_host": "www.instagram.com",
    "social_source": "instagram",
}
_UTM = {"source": "instagram", "medium": "social", "campaign": "spring_sale_2026", "content": "story_1"}
_CLICK_IDS = {"gclid": "EAIaIQobChMI8cXb4pWhhQMVqJ9QBh0sample", "fbclid": "IwAR2sample_fbclid_Xc9kLm"}
_VISITOR = {"visitor_hash": "vh_3f9a1c7e5b2d4086", "click_id": "ck_8d1e6b2a9f4c7035"}
# Negative follow-ons (refund, cancellation, reversal) point at the conversion they undo.
_ORIGINAL_CONVERSION_ID = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"


def sample_event(
    event_type: str,
    *,
    workspace_id: str,
    organization_id: str,
    privacy_mode: str = "standard",
    event_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A canonical event v1 of `event_type` that passes `validate_canonical_event` (fresh objects each call)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; expected one of: {', '.join(EVENT_TYPES)}")
    if privacy_mode not in PRIVACY_MODES:
        raise ValueError(f"unknown privacy mode {privacy_mode!r}; expected one of: {', '.join(PRIVACY_MODES)}")
    event: dict[str, Any] = {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "api_version": API_VERSION,
        "occurred_at": iso_utc(now or datetime.now(UTC)),
        "organization_id": organization_id,
        "workspace_id": workspace_id,
        "touch_type": "qr_scan" if event_type == "link.qr_scanned" else "short_link_click",
        "bot_flag": False,
        "privacy_mode": privacy_mode,
        "link": dict(_CARD_LINK if event_type in CARD_EVENT_TYPES else _LINK, tag_ids=list(_LINK["tag_ids"])),
        "context": dict(_CONTEXT),
        "utm": dict(_UTM),
        "visitor": dict(_VISITOR),
    }
    if event_type == "link.qr_scanned":
        # A scanned code has no referring page; the sample campaign tags its printed codes utm_source=qr.
        for key in ("referrer", "referrer_host", "social_source"):
            del event["context"][key]
        event["utm"] = {"source": "qr", "medium": "print", "campaign": "spring_sale_2026"}
    if event_type not in CARD_EVENT_TYPES:
        event["click_ids"] = dict(_CLICK_IDS)
    if event_type in CONVERSION_EVENT_TYPES:
        event["conversion"] = _conversion(event_type.removeprefix("conversion."))
    if privacy_mode == "strict":
        for path in STRICT_PRIVACY_FIELDS:
            parent, key = path.split(".")
            del event[parent][key]
    return event


def _conversion(outcome: str) -> dict[str, Any]:
    # Follow-ons (refund, cancellation, reversal) carry the amount of the sale they undo; a lead has no revenue.
    name, value = ("Newsletter signup", 0) if outcome == "lead" else ("Spring order", 49.9)
    conversion: dict[str, Any] = {
        "outcome": outcome,
        "conversion_name": name,
        "value": value,
        "currency": "USD",
        "click_token": "nim_ct_2b7f9e4d1c8a6035",
        "email": "jane.doe@example.com",
        "phone": "+14155550123",
    }
    if outcome not in ("lead", "sale"):
        conversion["original_event_id"] = _ORIGINAL_CONVERSION_ID
    return conversion
