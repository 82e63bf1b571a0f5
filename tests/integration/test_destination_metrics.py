"""Customer metrics: counters kept by fan-out and the dispatcher, read per window through the API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations import aws, runtime
from nimriz_destinations.delivery.fanout import Routing
from nimriz_destinations.jobs import ReceivedJob
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.counters import Counts
from tests.conftest import ApiClient
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkRequest, SinkResponse
from tests.sinks.webhook_receiver import webhook_receiver

BASE = "/api/integrations/destinations"
SECRET = "whsec_metrics_test_secret_0123456789"
COUNTERS = ("matched", "filtered_out", "delivered", "failed", "retrying", "throttled", "dead_lettered", "skipped")


@pytest.fixture
def sink() -> Iterator[Sink]:
    receiver = webhook_receiver(SECRET)

    def refusing_bad_links(request: SinkRequest) -> SinkResponse:
        if b'"short_code":"bad"' in request.body:
            return SinkResponse(400, {"error": "bad link"})
        return receiver(request)

    with Sink(refusing_bad_links) as running:
        yield running


def two_action_webhook(api: ApiClient, url: str) -> dict[str, Any]:
    body = {
        "name": "Hook",
        "type": "generic_http",
        "credentials": {"url": url, "signing_secret": SECRET},
        "actions": [
            {"name": name, "action_type": "send_webhook", "event_filter": {"include": {"event_types": [event_type]}}}
            for name, event_type in (("Clicks", "link.clicked"), ("Scans", "link.qr_scanned"))
        ],
    }
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def event(event_type: str, short_code: str = "spring") -> dict[str, Any]:
    made = sample_event(event_type, workspace_id="ws_dev", organization_id="org_dev")
    made["link"]["short_code"] = short_code
    return made


def metrics(api: ApiClient, destination_id: str, window: str) -> dict[str, Any]:
    response = api.get(f"{BASE}/{destination_id}/metrics?window={window}")
    assert response.status == 200, response.text
    found: dict[str, Any] = response.json()["metrics"]
    return found


def counters(entry: dict[str, Any]) -> dict[str, int]:
    return {name: entry[name] for name in COUNTERS}


def expected(**nonzero: int) -> dict[str, int]:
    return {name: nonzero.get(name, 0) for name in COUNTERS}


def test_metrics_count_what_fan_out_and_the_dispatcher_did_per_action(
    api: ApiClient, pipeline: Pipeline, sink: Sink
) -> None:
    destination = two_action_webhook(api, sink.url)
    clicks, scans = (action["id"] for action in destination["actions"])
    pipeline.publish(event("link.clicked"), event("link.clicked"), event("link.clicked", "bad"))
    pipeline.publish(event("link.qr_scanned"))
    pipeline.run()

    for window in ("1h", "24h", "7d"):
        shown = metrics(api, destination["id"], window)
        assert shown["window"] == window and shown["starts_at"].endswith(":00:00.000Z")
        by_action = {entry["action_id"]: entry for entry in shown["actions"]}
        assert list(by_action) == [clicks, scans]
        one_refused = expected(matched=3, filtered_out=1, delivered=2, failed=1, dead_lettered=1)
        assert counters(by_action[clicks]) == one_refused
        assert counters(by_action[scans]) == expected(matched=1, filtered_out=3, delivered=1)
        assert counters(shown["totals"]) == expected(matched=4, filtered_out=4, delivered=3, failed=1, dead_lettered=1)
        for entry in (by_action[clicks], by_action[scans], shown["totals"]):
            assert entry["p50_latency_ms"] is not None and entry["p50_latency_ms"] <= entry["p95_latency_ms"]


def test_a_retried_attempt_counts_as_failed_and_retrying(api: ApiClient, pipeline: Pipeline, sink: Sink) -> None:
    destination = two_action_webhook(api, sink.url)
    sink.script.append(SinkResponse(503, {"error": "later"}))
    pipeline.publish(event("link.clicked"))
    pipeline.run()
    clicks = metrics(api, destination["id"], "1h")["actions"][0]
    assert counters(clicks) == expected(matched=1, delivered=1, failed=1, retrying=1)


def test_a_throttled_attempt_counts_as_throttled_not_as_failed_for_customers_and_operators(
    api: ApiClient, pipeline: Pipeline, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = two_action_webhook(api, sink.url)
    sink.script.append(SinkResponse(429, {"error": "slow down"}))
    pipeline.publish(event("link.clicked"))
    pipeline.run()
    clicks = metrics(api, destination["id"], "1h")["actions"][0]
    assert counters(clicks) == expected(matched=1, delivered=1, throttled=1)
    emitted = emitted_per_type(capsys.readouterr().out, "generic_http")
    assert {name: emitted.get(name, 0) for name in ("Delivered", "Failed", "Throttled")} == {
        "Delivered": 1,
        "Failed": 0,
        "Throttled": 1,
    }


def emitted_per_type(output: str, destination_type: str) -> dict[str, float]:
    """The dispatcher's EMF counts of one destination type in `output`, summed by metric name."""
    sums: dict[str, float] = {}
    for line in output.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        if "_aws" not in document or document.get("destination_type") != destination_type:
            continue
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name, value = definition["Name"], document[definition["Name"]]
            sums[name] = sums.get(name, 0) + (sum(value) if isinstance(value, list) else value)
    return sums


def test_a_test_send_is_counted_apart_from_live_deliveries_for_operators(
    api: ApiClient, pipeline: Pipeline, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = two_action_webhook(api, sink.url)
    test_send = f"{BASE}/{destination['id']}/test-send"
    assert api.post(test_send, {"action_id": destination["actions"][0]["id"]}).status == 202
    pipeline.run()
    emitted = emitted_per_type(capsys.readouterr().out, "generic_http")
    assert emitted.get("TestSendDelivered") == 1
    assert emitted.get("Delivered", 0) == 0 and "Latency" not in emitted


def test_a_destination_without_traffic_shows_zeros_for_every_action(api: ApiClient, sink: Sink) -> None:
    destination = two_action_webhook(api, sink.url)
    shown = metrics(api, destination["id"], "24h")
    assert [entry["action_id"] for entry in shown["actions"]] == [a["id"] for a in destination["actions"]]
    assert all(set(counters(entry).values()) == {0} for entry in [*shown["actions"], shown["totals"]])
    assert shown["totals"]["p50_latency_ms"] is None and shown["totals"]["p95_latency_ms"] is None


def test_each_window_counts_only_its_hours(api: ApiClient, sink: Sink) -> None:
    destination = two_action_webhook(api, sink.url)
    key = ("ws_dev", destination["id"], destination["actions"][0]["id"])
    now = time.time()
    for hours_ago, count in ((0, 1), (3, 10), (48, 100), (24 * 8, 1000)):
        runtime.delivery_counters().add(key, Counts(delivered=count), at=now - hours_ago * 3600)

    windows = ("1h", "24h", "7d")
    delivered = {window: metrics(api, destination["id"], window)["totals"]["delivered"] for window in windows}
    assert delivered == {"1h": 1, "24h": 11, "7d": 111}


def test_metrics_of_an_unknown_or_another_workspace_s_destination_are_404(
    api: ApiClient, other_api: ApiClient, sink: Sink
) -> None:
    destination = two_action_webhook(api, sink.url)
    assert other_api.get(f"{BASE}/{destination['id']}/metrics").status == 404
    assert api.get(f"{BASE}/{uuid.uuid4()}/metrics").status == 404


def test_an_unknown_window_is_a_422(api: ApiClient, sink: Sink) -> None:
    destination = two_action_webhook(api, sink.url)
    response = api.get(f"{BASE}/{destination['id']}/metrics?window=30d")
    assert response.status == 422 and response.json()["error"]["details"][0]["path"] == "query.window"


def counter_updates(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for call in calls if call["Key"]["SK"]["S"].startswith("MET#")]


@pytest.fixture
def update_calls(pipeline: Pipeline) -> Iterator[list[dict[str, Any]]]:
    """Every UpdateItem request the project's DynamoDB client makes."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    client = aws.dynamodb()
    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", record)
    yield seen
    client.meta.events.unregister("provide-client-params.dynamodb.UpdateItem", record)


def test_counters_take_one_update_per_action_per_batch_not_per_event(
    api: ApiClient, pipeline: Pipeline, sink: Sink, update_calls: list[dict[str, Any]]
) -> None:
    destination = two_action_webhook(api, sink.url)
    clicks = destination["actions"][0]["id"]
    events = [event("link.clicked") for _ in range(10)]

    runtime.fan_out().count([Routing("ws_dev", e["id"], jobs=runtime.fan_out().route(e).jobs) for e in events])
    assert len(counter_updates(update_calls)) == 1  # ten matches of one action

    update_calls.clear()
    routings = [runtime.fan_out().route(e) for e in events]
    runtime.fan_out().count(routings)
    assert len(counter_updates(update_calls)) == 2  # clicks matched, scans filtered out: one update per action

    update_calls.clear()
    jobs = [job for routing in routings for job in routing.jobs]
    received = [ReceivedJob(str(uuid.uuid4()), "receipt", 1, job) for job in jobs]
    assert len(jobs) == 10 and all(job.action_id == clicks for job in jobs)
    returned = runtime.dispatcher().dispatch(received, deadline=time.monotonic() + 60)
    assert returned == set()
    assert len(counter_updates(update_calls)) == 1  # ten deliveries of one action in one batch
    assert metrics(api, destination["id"], "1h")["actions"][0]["delivered"] == 10
