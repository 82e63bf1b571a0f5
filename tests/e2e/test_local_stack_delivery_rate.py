"""End to end over real sockets: a destination at 5 per second receiving 100 events never gets more than 5 in any
second (issue 20 item 8, design §8.11), whatever the number of dispatcher invocations the local stack runs at once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.test_local_stack_delivery import BASE, SECRET, api, click, post_events, wait_for
from tests.integration.test_delivery_rate import Receiver
from tests.sinks.server import Sink
from tests.unit.test_delivery_rate import most_in_any_second

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
__all__ = ["api"]  # the fixture shared with the delivery tests


@pytest.fixture
def timed_receiver() -> Iterator[tuple[Receiver, Sink]]:
    handler = Receiver()
    with Sink(handler) as sink:
        yield handler, sink


def test_a_destination_at_5_per_second_receiving_100_events_over_sockets_never_exceeds_it_in_any_second(
    local_stack: RunningStack, api: httpx.Client, timed_receiver: tuple[Receiver, Sink]
) -> None:
    handler, sink = timed_receiver
    body = {
        "name": "Five a second",
        "type": "generic_http",
        "credentials": {"url": sink.url, "signing_secret": SECRET},
        "delivery_rate": {"per_second": 5},
        "actions": [{"name": "Events", "action_type": "send_webhook"}],
    }
    created = api.post(BASE, json=body)
    assert created.status_code == 201, created.text
    destination = created.json()["destination"]
    events = [click(id=f"evt_{uuid.uuid4().hex}") for _ in range(100)]
    for start in range(0, len(events), 25):
        post_events(local_stack, *events[start : start + 25])

    wait_for(lambda: len(handler.arrivals) >= len(events), timeout=60)
    time.sleep(1)  # nothing arrives twice
    received = sorted(event_id for _, event_id in handler.arrivals)
    assert received == sorted(event["id"] for event in events)
    assert most_in_any_second([moment for moment, _ in handler.arrivals]) <= 5
    found = api.get(f"{BASE}/{destination['id']}/deliveries", params={"limit": 100}).json()["deliveries"]
    assert {delivery["status"] for delivery in found} == {"delivered"}
    assert {delivery["attempts"] for delivery in found} == {1}  # waiting for the rate used no attempt
    metrics = api.get(f"{BASE}/{destination['id']}/metrics", params={"window": "1h"}).json()["metrics"]
    assert metrics["throttled_backlog"] == 0 and metrics["oldest_pending_seconds"] is None
