"""End to end over real sockets: live events posted to the local stack reach real receivers."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from nimriz_destinations.sample_events import sample_event
from tests.e2e.conftest import (
    E2E_DEV_KEY,
    E2E_DISABLE_AFTER_SECONDS,
    E2E_DISABLE_MIN_FAILURES,
    E2E_OTHER_KEY,
    SEGMENT_WRITE_KEY,
    RunningStack,
)
from tests.sinks.raw_endpoint import RawEndpoint
from tests.sinks.server import Sink, SinkResponse
from tests.sinks.webhook_receiver import WebhookReceiver, webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
BASE = "/api/integrations/destinations"
SECRET = "whsec_e2e_signing_secret_0123456789"


# The local stack caches destination configs for CONFIG_CACHE_SECONDS=1 (the documented staleness bound).
CONFIG_CACHE_BOUND_SECONDS = 1.2


def workspace_client(stack: RunningStack, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        yield client
        # Each test's destinations go away with it, so later events do not fan out to closed receivers.
        for destination in client.get(BASE, params={"limit": 100}).json()["destinations"]:
            client.delete(f"{BASE}/{destination['id']}")


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    yield from workspace_client(local_stack, E2E_DEV_KEY)


@pytest.fixture
def other_api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    yield from workspace_client(local_stack, E2E_OTHER_KEY)


@pytest.fixture
def receiver() -> Iterator[tuple[Sink, WebhookReceiver]]:
    handler = webhook_receiver(SECRET)
    with Sink(handler) as sink:
        yield sink, handler


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met before the timeout")


def click(**overrides: Any) -> dict[str, Any]:
    event = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    return {**event, **overrides}


def create_webhook(api: httpx.Client, url: str, **action: Any) -> dict[str, Any]:
    body = {
        "name": "Receiver",
        "type": "generic_http",
        "credentials": {"url": url, "signing_secret": SECRET},
        "actions": [{"name": "Events", "action_type": "send_webhook", **action}],
    }
    response = api.post(BASE, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    time.sleep(CONFIG_CACHE_BOUND_SECONDS)  # live events see a new destination within the cache bound
    return created


def post_events(stack: RunningStack, *events: dict[str, Any]) -> None:
    response = httpx.post(f"{stack.base_url}/_local/events", json=list(events))
    assert response.status_code == 202, response.text


def test_live_click_is_delivered_with_a_signature_the_receiver_verifies(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    destination = create_webhook(api, f"{sink.url}/hooks/nimriz")
    event = click()
    post_events(local_stack, event)
    (delivered,) = wait_for(lambda: handler.verified)
    assert delivered.event_id == event["id"] and delivered.reason == "live"
    deliveries = wait_for(
        lambda: [
            d
            for d in api.get(f"{BASE}/{destination['id']}/deliveries").json()["deliveries"]
            if d["status"] == "delivered"
        ]
    )
    assert deliveries[0]["event_id"] == event["id"]


def test_filtered_and_bot_events_send_nothing(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    create_webhook(
        api, sink.url, event_filter={"include": {"event_types": ["link.clicked"]}, "exclude": {"bot_traffic": True}}
    )
    scan = sample_event("link.qr_scanned", workspace_id="ws_dev", organization_id="org_dev")
    bot, human = click(bot_flag=True), click()
    post_events(local_stack, scan, bot, human)
    wait_for(lambda: handler.verified)
    time.sleep(2)  # give the filtered events every chance to (wrongly) arrive
    assert [d.event_id for d in handler.verified] == [human["id"]]


def test_500_then_200_is_retried_until_delivered(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    sink.script.append(SinkResponse(500, {"error": "later"}))
    create_webhook(api, sink.url)
    post_events(local_stack, click())
    (delivered,) = wait_for(lambda: handler.verified)
    assert (delivered.attempt, delivered.reason) == (2, "retry")


def test_400_dead_letters_without_retry_and_replay_redelivers_the_same_event(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    sink.script.append(SinkResponse(400, {"error": "rejected"}))
    destination = create_webhook(api, sink.url)
    event = click()
    post_events(local_stack, event)
    letters_url = f"{BASE}/{destination['id']}/dead-letters"
    (letter,) = wait_for(lambda: api.get(letters_url).json()["dead_letters"])
    assert letter["event_id"] == event["id"] and letter["attempts"] == 1 and len(sink.requests) == 1

    assert api.post(f"{letters_url}/replay", json={}).status_code == 202
    (delivered,) = wait_for(lambda: handler.verified)
    assert delivered.event_id == event["id"] and delivered.reason == "replay"


def test_test_send_result_shows_in_the_delivery_log(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    destination = create_webhook(api, sink.url)
    queued = api.post(f"{BASE}/{destination['id']}/test-send", json={}).json()["delivery"]
    url = f"{BASE}/{destination['id']}/deliveries/{queued['id']}"
    detail = wait_for(lambda: (r := api.get(url)).status_code == 200 and r.json()["delivery"])
    assert detail["status"] == "delivered" and detail["reason"] == "test"
    assert handler.verified[0].event_type == "nim.webhook.test"


def test_segment_destination_receives_track_calls(
    local_stack: RunningStack, api: httpx.Client, segment_sink: Sink
) -> None:
    body = {
        "name": "Segment",
        "type": "segment",
        "credentials": {"write_key": SEGMENT_WRITE_KEY},
        "actions": [{"name": "Send event", "action_type": "send_event"}],
    }
    assert api.post(BASE, json=body).status_code == 201
    time.sleep(CONFIG_CACHE_BOUND_SECONDS)
    event = click()
    post_events(local_stack, event)

    def sent_calls() -> list[dict[str, Any]]:
        calls = [r.json() for r in segment_sink.requests if r.path in ("/v1/track", "/v1/batch")]
        return [c for call in calls for c in call.get("batch", [call]) if c.get("messageId") == event["id"]]

    (call,) = wait_for(sent_calls)
    assert call["type"] == "track" and call["event"] == "Link Clicked"
    assert call["anonymousId"] == event["visitor"]["visitor_hash"]


def parked_events_of(api: httpx.Client, event_id: str) -> list[dict[str, Any]]:
    events = api.get("/api/integrations/parked-events", params={"limit": 100}).json()["parked_events"]
    return [event for event in events if event["event_id"] == event_id]


def test_an_invalid_live_event_is_parked_by_the_local_dlq_poller_and_listed(
    local_stack: RunningStack, api: httpx.Client
) -> None:
    invalid = click(type="link.teleported")
    post_events(local_stack, invalid)

    (parked,) = wait_for(lambda: parked_events_of(api, invalid["id"]))
    assert parked["event_type"] == "link.teleported" and parked["reason"].startswith("invalid_event: type:")


def test_a_live_event_on_31_february_is_parked_at_once_as_an_invalid_event_naming_the_field(
    local_stack: RunningStack, api: httpx.Client
) -> None:
    impossible = click(occurred_at="2026-02-31T12:00:00.000Z")
    post_events(local_stack, impossible)

    # Within the pollers' usual delay: a fan-out failure would come back only after 180 s, 5 times over.
    (parked,) = wait_for(lambda: parked_events_of(api, impossible["id"]))
    assert parked["reason"].startswith("invalid_event: occurred_at: must be a real date and time")
    assert parked["receive_count"] == 1


def test_a_failing_destination_is_auto_disabled_a_second_webhook_is_told_and_the_metrics_count_it(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    watcher_sink, watcher = receiver
    with Sink(lambda request: SinkResponse(400, {"error": "refused"})) as refusing:
        failing = create_webhook(api, refusing.url)
        create_webhook(api, watcher_sink.url, event_filter={"include": {"event_types": ["destination.disabled"]}})
        post_events(local_stack, *(click() for _ in range(E2E_DISABLE_MIN_FAILURES)))
        wait_for(lambda: len(refusing.requests) >= E2E_DISABLE_MIN_FAILURES)
        time.sleep(E2E_DISABLE_AFTER_SECONDS)  # no success for the whole window: the next failure disables it
        post_events(local_stack, click())

        (notice,) = wait_for(lambda: [d for d in watcher.verified if d.event_type == "destination.disabled"])
        data = notice.envelope["data"]
        assert data["destination_id"] == failing["id"] and data["type"] == "generic_http"
        assert data["health"]["state"] == "disabled" and data["last_http_status"] == 400
        shown = api.get(f"{BASE}/{failing['id']}").json()["destination"]
        assert shown["enabled"] is False and shown["health"]["state"] == "disabled"
        assert shown["health"]["disabled_reason"].startswith("No successful delivery since")
        audited = api.get("/api/integrations/audit-log", params={"limit": 10}).json()["audit_log"]
        (disabled,) = [
            e for e in audited if e["target"]["id"] == failing["id"] and e["action"] == "destination.disabled"
        ]
        assert disabled["actor"] == {"type": "system", "id": "system"}

        events = E2E_DISABLE_MIN_FAILURES + 1
        url = f"{BASE}/{failing['id']}/metrics"
        totals = wait_for(
            lambda: (
                (t := api.get(url, params={"window": "1h"}).json()["metrics"]["totals"])["dead_lettered"] == events
                and t
            )
        )
        assert (totals["matched"], totals["failed"], totals["delivered"]) == (events, events, 0)


@contextmanager
def hanging_endpoint() -> Iterator[tuple[RawEndpoint, list[float]]]:
    """An endpoint that never answers, and when the dispatcher gave up on each of its requests (hung up)."""
    release = threading.Event()
    cut: list[float] = []

    def never_answer(connection: socket.socket) -> None:
        while not release.is_set():
            if select.select([connection], [], [], 0.2)[0] and not connection.recv(1):
                cut.append(time.monotonic())
                return

    with RawEndpoint(never_answer) as hanging:
        try:
            yield hanging, cut
        finally:
            release.set()


def test_a_hanging_endpoint_does_not_hold_another_workspaces_delivery(
    local_stack: RunningStack,
    api: httpx.Client,
    other_api: httpx.Client,
    receiver: tuple[Sink, WebhookReceiver],
) -> None:
    _, handler = receiver
    with hanging_endpoint() as (hanging, _):
        create_webhook(api, hanging.url)
        create_webhook(other_api, receiver[0].url)
        healthy = click(workspace_id="ws_other", organization_id="org_ws_other")
        post_events(local_stack, *[click() for _ in range(50)], healthy)  # the healthy event last
        posted = time.monotonic()
        (delivered,) = wait_for(lambda: handler.verified, timeout=15)
        delivered_after = time.monotonic() - posted
    assert delivered.event_id == healthy["id"]
    print(f"\nhealthy endpoint: delivered {delivered_after:.1f} s after posting, next to 50 events to a hanging one")


def test_an_event_fanning_out_to_its_quota_of_hanging_deliveries_does_not_hold_another_workspaces_delivery(
    local_stack: RunningStack,
    api: httpx.Client,
    other_api: httpx.Client,
    receiver: tuple[Sink, WebhookReceiver],
) -> None:
    # The finding: one workspace's configuration (20 destinations x 50 actions were accepted) could turn one event
    # into 1,000 requests, and its hanging endpoints could fill every sending thread of the dispatcher.
    _, handler = receiver
    fifty = [{"name": f"Events {n}", "action_type": "send_webhook"} for n in range(50)]
    with hanging_endpoint() as (hanging, cut):
        for _ in range(2):  # 100 deliveries per event: the default deliveries_per_event quota
            body = {"name": "Noisy", "type": "generic_http", "credentials": {"url": hanging.url}, "actions": fifty}
            assert api.post(BASE, json=body).status_code == 201
        over = api.post(BASE, json={**body, "actions": fifty[:1]})
        assert over.status_code == 422 and over.json()["error"]["code"] == "QUOTA_EXCEEDED"
        create_webhook(other_api, receiver[0].url)
        healthy = click(workspace_id="ws_other", organization_id="org_ws_other")
        post_events(local_stack, click(), healthy)  # the noisy event first
        posted = time.monotonic()
        (delivered,) = wait_for(lambda: handler.verified, timeout=120)
        delivered_after = time.monotonic() - posted
        requests_open = hanging.requests - len(cut)
    assert delivered.event_id == healthy["id"]
    # Delivered while the noisy event's first requests were still hanging: it waited behind none of them.
    assert not [moment for moment in cut if moment < posted + delivered_after]
    print(
        f"\nhealthy endpoint: delivered {delivered_after:.1f} s after posting, next to an event fanning out to "
        f"100 deliveries to a hanging endpoint ({requests_open} requests to it open)"
    )
