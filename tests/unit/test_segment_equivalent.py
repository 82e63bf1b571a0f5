"""The action `make bench` times against Segment's own engines (tests/segment_comparison) does the same work: the
same verdicts as Segment's subscription and the payload Segment's mapping-kit mapping produces, key for key."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nimriz_destinations.filters import EventFilter, compile_filter
from nimriz_destinations.mapping import PropertyMapping, compile_mapping

FOLDER = Path(__file__).parents[1] / "segment_comparison"
EVENT: dict[str, Any] = json.loads((FOLDER / "event.json").read_text())
ACTION: dict[str, Any] = json.loads((FOLDER / "action.json").read_text())

# What mapping-kit's `transform` returns for Segment's mapping on this event.
MAPPING_KIT_OUTPUT = {
    "event": "Link Clicked",
    "anonymousId": "vh_4c2a9e",
    "messageId": "9f4d5dbd-c8b8-4c89-a080-b4f70fce8f53",
    "timestamp": "2026-03-30T12:34:56.789Z",
    "properties": {
        "short_url": "https://rix.to/launch-q2",
        "domain_name": "rix.to",
        "country": "US",
        "device_category": "mobile",
        "utm_source": "newsletter",
        "campaign": "spring",
        "source": "nimriz",
        "label": "rix.to/launch-q2",
    },
}


def test_the_action_maps_the_event_to_what_mapping_kit_produces() -> None:
    mapping = compile_mapping(PropertyMapping.model_validate(ACTION["property_mapping"]))
    assert mapping.apply(EVENT, lambda _event: {}) == MAPPING_KIT_OUTPUT


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    change(event)
    return event


# Segment's subscription: (type = link.clicked or type = link.qr_scanned) and context.country = "US" and
# properties.bot_flag = false and properties.link.domain_id = "d1".
@pytest.mark.parametrize(
    ("event", "passes"),
    [
        (EVENT, True),
        (changed(lambda event: event.update(type="link.qr_scanned")), True),
        (changed(lambda event: event.update(type="link.updated")), False),
        (changed(lambda event: event["context"].update(country="DE")), False),
        (changed(lambda event: event["context"].pop("country")), False),
        (changed(lambda event: event.update(bot_flag=True)), False),
        (changed(lambda event: event["link"].update(domain_id="d2")), False),
    ],
)
def test_the_action_gives_the_verdicts_of_segments_subscription(event: dict[str, Any], passes: bool) -> None:
    event_filter = compile_filter(EventFilter.model_validate(ACTION["event_filter"]))
    assert event_filter.evaluate(event).passed is passes
