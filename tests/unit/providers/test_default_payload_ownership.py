"""Every adapter's default payload is a new object: it shares no dict or list with the event it was made from, nor
with another payload the adapter made. The compiled mapping edits that payload in place without copying it first
(`mapping.compile`), so this is what keeps an override from changing the event or the next delivery's payload."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations.event_fields import EVENT_TYPES, PRIVACY_MODES
from nimriz_destinations.mapping import apply_privacy
from nimriz_destinations.providers import DESTINATION_TYPES, get_provider
from nimriz_destinations.sample_events import sample_event

DELIVERING_TYPES = [name for name in DESTINATION_TYPES if get_provider(name).delivers]


def containers(value: Any) -> Iterator[int]:
    """The identities of every dict and list in a JSON-shaped value, itself included."""
    if isinstance(value, dict):
        yield id(value)
        for item in value.values():
            yield from containers(item)
    elif isinstance(value, list):
        yield id(value)
        for item in value:
            yield from containers(item)


def private_event(event_type: str, privacy_mode: str) -> dict[str, Any]:
    event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", privacy_mode=privacy_mode)
    event["consent"] = {"ad_user_data": "granted", "ad_personalization": "denied"}
    return apply_privacy(event)


@pytest.mark.parametrize("privacy_mode", PRIVACY_MODES)
@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("destination_type", DELIVERING_TYPES)
def test_a_default_payload_shares_no_object_with_its_event_or_another_payload(
    destination_type: str, event_type: str, privacy_mode: str
) -> None:
    provider = get_provider(destination_type)
    event = private_event(event_type, privacy_mode)
    payload = provider.default_payload(event)
    again = provider.default_payload(event)

    held = list(containers(payload))
    assert len(held) == len(set(held)), "an object appears twice in the payload"
    assert not set(held) & set(containers(event)), "the payload holds an object of the event"
    assert not set(held) & set(containers(again)), "two payloads hold the same object"
