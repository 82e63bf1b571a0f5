"""End to end over real sockets: a pause holds events until resume sends each once, in occurred_at order, and a
recovery by time range sends dead letters and skipped deliveries once each (design §2.2)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.test_local_stack_delivery import (
    BASE,
    SECRET,
    api,
    click,
    create_webhook,
    post_events,
    receiver,
    wait_for,
)
from tests.sinks.server import Sink, SinkRequest, SinkResponse
from tests.sinks.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
__all__ = ["api", "receiver"]  # fixtures shared with the delivery tests
SINCE = "2026-01-01T00:00:00Z"


def statuses(api: httpx.Client, destination_id: str) -> list[str]:
    found = api.get(f"{BASE}/{destination_id}/deliveries", params={"limit": 100}).json()["deliveries"]
    return sorted(delivery["status"] for delivery in found)


def held_count(api: httpx.Client, destination_id: str) -> int:
    """The destination's held deliveries, every page of its log."""
    held, params = 0, {"limit": 100}
    while True:
        page = api.get(f"{BASE}/{destination_id}/deliveries", params=params).json()
        held += sum(delivery["status"] == "held" for delivery in page["deliveries"])
        if not page.get("next_cursor"):
            return held
        params = {"limit": 100, "cursor": page["next_cursor"]}


def update_body(destination: dict[str, Any], url: str, **changes: Any) -> dict[str, Any]:
    """A PUT body keeping the destination's action, with its endpoint `url`."""
    actions = [{key: action[key] for key in ("id", "name", "action_type")} for action in destination["actions"]]
    return {"name": destination["name"], "type": destination["type"], "enabled": True,
            "credentials": {"url": url, "signing_secret": SECRET}, "actions": actions, **changes}  # fmt: skip


def test_a_paused_destination_receives_nothing_until_resumed_then_every_held_event_once_as_live_in_occurred_order(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    destination = create_webhook(api, sink.url)
    assert api.post(f"{BASE}/{destination['id']}/pause").json()["destination"]["paused"] is True
    time.sleep(1.2)  # fan-out's config cache; the dispatcher would hold them anyway
    base = datetime(2026, 3, 3, 9, tzinfo=UTC)
    minutes = random.sample(range(1000), 120)  # more than two release pages (50 each)
    events = [click(occurred_at=(base + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S.000Z")) for m in minutes]

    post_events(local_stack, *events)
    wait_for(lambda: held_count(api, destination["id"]) == len(events))
    time.sleep(1)
    assert sink.requests == []
    assert api.post(f"{BASE}/{destination['id']}/resume").json()["destination"]["paused"] is False

    wait_for(lambda: len(handler.verified) == len(events))
    time.sleep(1)
    # Released oldest event first, page after page, through the FIFO queue (design §2.2, "Order"): each once, in
    # strict occurred_at order, as live.
    in_order = [event["id"] for _, event in sorted(zip(minutes, events, strict=True), key=lambda pair: pair[0])]
    assert [delivered.event_id for delivered in handler.verified] == in_order
    assert {delivered.reason for delivered in handler.verified} == {"live"}


def test_dead_letters_of_a_400_endpoint_fixed_by_put_are_recovered_once_each_with_reason_replay(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    with Sink(lambda request: SinkResponse(400, {"error": "unknown field"})) as refusing:
        destination = create_webhook(api, refusing.url)
        events = [click() for _ in range(4)]
        post_events(local_stack, *events)
        wait_for(lambda: statuses(api, destination["id"]) == ["dead_lettered"] * len(events))
    assert api.put(f"{BASE}/{destination['id']}", json=update_body(destination, sink.url)).status_code == 200

    answer = api.post(f"{BASE}/{destination['id']}/recover", json={"since": SINCE, "statuses": ["dead_lettered"]})

    assert answer.status_code == 202, answer.text
    assert answer.json()["recovery"]["queued"] == len(events)
    wait_for(lambda: len(handler.verified) == len(events))
    time.sleep(2)  # any second send would have arrived
    assert sorted(d.event_id for d in handler.verified) == sorted(e["id"] for e in events)
    assert {d.reason for d in handler.verified} == {"replay"}


def test_an_auto_disabled_destination_re_enabled_and_recovered_receives_every_skipped_event_once(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    gone = threading.Event()
    told: list[bool] = []

    def failing_then_gone(request: SinkRequest) -> SinkResponse:
        # Every event is retried (503) until the endpoint says once that it is gone (410): the destination is
        # disabled at once, and the retries still to come are skipped `destination_disabled`.
        if gone.is_set() and not told:
            told.append(True)
            return SinkResponse(410, {"error": "gone"})
        return SinkResponse(503, {"error": "unavailable"})

    with Sink(failing_then_gone) as failing:
        destination = create_webhook(api, failing.url)
        events = [click() for _ in range(4)]
        post_events(local_stack, *events)
        wait_for(lambda: len({r.header("X-Nim-Event-Id") for r in failing.requests}) == len(events))
        gone.set()
        wait_for(lambda: "retrying" not in statuses(api, destination["id"]), timeout=60)
    shown = api.get(f"{BASE}/{destination['id']}").json()["destination"]
    assert shown["enabled"] is False
    found = api.get(f"{BASE}/{destination['id']}/deliveries", params={"limit": 100}).json()["deliveries"]
    skipped = [d["event_id"] for d in found if d["status"] == "skipped"]
    assert skipped, found
    assert api.put(f"{BASE}/{destination['id']}", json=update_body(destination, sink.url)).status_code == 200

    answer = api.post(f"{BASE}/{destination['id']}/recover", json={"since": SINCE, "statuses": ["skipped"]})

    assert answer.status_code == 202, answer.text
    wait_for(lambda: len(handler.verified) == len(skipped))
    time.sleep(2)
    assert sorted(d.event_id for d in handler.verified) == sorted(skipped)
    assert {d.reason for d in handler.verified} == {"replay"}
