"""Shared pieces of the analytics adapters (providers/analytics.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from nimriz_destinations.providers.analytics import (
    PROPERTY_SOURCES,
    as_uuid,
    base_url,
    pack,
    property_projection,
    signed_revenue,
)
from nimriz_destinations.providers.common import json_bytes
from tests.provider_support import make_event


def wrap(events: list[Any]) -> dict[str, Any]:
    return {"api_key": "k" * 200, "events": events}  # an envelope larger than the events: its size must count


def test_pack_sizes_are_exact_so_a_body_of_exactly_the_limit_fits() -> None:
    entries = [(position, {"n": position}) for position in range(10)]
    exact = len(json_bytes(wrap([event for _, event in entries[:4]])))
    bodies = pack(entries, wrap, max_count=100, max_bytes=exact)
    assert [positions for positions, _ in bodies] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9)]
    assert len(bodies[0][1]) == exact
    assert json.loads(bodies[2][1]) == wrap([entries[8][1], entries[9][1]])


def test_pack_respects_the_count_limit_and_keeps_an_oversized_event_alone() -> None:
    entries = [(0, {"a": 1}), (1, {"big": "y" * 500}), (2, {"b": 2}), (3, {"c": 3})]
    bodies = pack(entries, list, max_count=2, max_bytes=100)
    assert [positions for positions, _ in bodies] == [(0,), (1,), (2, 3)]


def test_canonical_properties_flatten_present_fields_and_leave_identity_and_personal_data_out() -> None:
    event = make_event("conversion.sale")
    properties = property_projection({"country": "geo_country"})(event)
    assert properties["utm_source"] == "instagram" and properties["geo_country"] == "US"
    assert "country" not in properties and "utm_term" not in properties
    assert properties["tag_ids"] == event["link"]["tag_ids"] and properties["tag_ids"] is not event["link"]["tag_ids"]
    assert not {"email", "phone", "visitor_hash", "click_id"} & properties.keys()
    assert {name for _, name in PROPERTY_SOURCES} >= properties.keys() - {"geo_country"}


@pytest.mark.parametrize(
    ("event_type", "revenue"),
    [
        ("conversion.sale", 49.9),
        ("conversion.refund", -49.9),
        ("conversion.cancellation", -49.9),
        ("conversion.reversal", -49.9),
        ("conversion.lead", None),
        ("link.clicked", None),
    ],
)
def test_signed_revenue(event_type: str, revenue: float | None) -> None:
    assert signed_revenue(make_event(event_type)) == revenue


def test_as_uuid_keeps_uuids_and_derives_stable_ones_for_other_ids() -> None:
    value = "0F8FAD5B-D9CB-469F-A165-70867728950E"
    assert as_uuid(value) == value.lower()
    derived = as_uuid("evt_1")
    assert uuid.UUID(derived).version == 5 and derived == as_uuid("evt_1") != as_uuid("evt_2")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://ph.example.com/", "https://ph.example.com"),
        ("https://sgtm.example.com/t", "https://sgtm.example.com/t"),
    ],
)
def test_base_url_accepts_plain_base_urls(value: str, expected: str) -> None:
    assert base_url(value) == expected


@pytest.mark.parametrize(
    "value", ["ph.example.com", "ftp://ph.example.com", "https://ph.example.com/?a=1", "https://u:p@ph.example.com"]
)
def test_base_url_refuses_anything_else(value: str) -> None:
    with pytest.raises(ValueError):
        base_url(value)
