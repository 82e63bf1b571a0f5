"""A destination's delivery rate (design §8.11, issue 20 item 8): never sent faster, whatever the number of concurrent
dispatchers; jobs over it wait without using an attempt, `throttled` in the log; the metrics route's backlog."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations import aws as aws_clients
from nimriz_destinations import runtime
from nimriz_destinations.storage.rate_buckets import RATE_SK
from tests.aws_usage import AwsMeter
from tests.conftest import ApiClient
from tests.integration.test_delivery_pipeline import BASE, click, deliveries
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkRequest, SinkResponse
from tests.unit.test_delivery_rate import most_in_any_second

DISPATCHERS = 4


class Receiver:
    """Answers 200 and notes when each event arrived (monotonic seconds)."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, request: SinkRequest) -> SinkResponse:
        with self._lock:
            self.arrivals.append((time.monotonic(), str(request.json()["id"])))
        return SinkResponse(200, {"ok": True})


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, Sink]]:
    handler = Receiver()
    with Sink(handler) as sink:
        yield handler, sink


def limited_webhook(api: ApiClient, url: str, per_second: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Limited",
        "type": "generic_http",
        "credentials": {"url": url},
        "actions": [{"name": "All events", "action_type": "send_webhook"}],
    }
    if per_second is not None:
        body["delivery_rate"] = {"per_second": per_second}
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def fan_out(pipeline: Pipeline, count: int) -> None:
    pipeline.publish(*[click(id=f"evt_{uuid.uuid4().hex}") for _ in range(count)])
    while pipeline.poll("FanOutFunction"):
        pass


def test_a_destination_at_5_per_second_never_receives_more_than_5_in_any_second_from_concurrent_dispatchers(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Receiver, Sink]
) -> None:
    handler, sink = receiver
    # 40 events: eight seconds at the rate, every dispatcher contending for tokens throughout (the local stack's
    # test sends 100 over sockets).
    destination = limited_webhook(api, sink.url, per_second=5)
    fan_out(pipeline, 40)
    pipeline.drain_concurrently(lambda: len(handler.arrivals), 40, environments=DISPATCHERS, timeout=90)

    received = [event_id for _, event_id in handler.arrivals]
    assert len(received) == len(set(received)) == 40
    assert most_in_any_second([moment for moment, _ in handler.arrivals]) <= 5
    found = deliveries(api, destination["id"])
    assert len(found) == 40 and {delivery["status"] for delivery in found} == {"delivered"}
    # Jobs over the rate waited without using an attempt: each was sent once, as attempt 1.
    assert {delivery["attempts"] for delivery in found} == {1}
    waited = [delivery for delivery in found if delivery["last_error_class"] is None]
    assert waited  # (a delivered one names no error)
    detail = api.get(f"{BASE}/{destination['id']}/deliveries/{found[0]['id']}").json()["delivery"]
    assert detail["attempt_log"][-1]["attempt"] == 1


def test_jobs_over_the_rate_are_throttled_in_the_log_without_an_attempt_and_counted_in_the_metrics(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Receiver, Sink]
) -> None:
    handler, sink = receiver
    destination = limited_webhook(api, sink.url, per_second=1)
    fan_out(pipeline, 10)
    pipeline.poll("DispatcherFunction")  # one batch: a token or two free within the pacing horizon, the rest wait

    # Two tokens at most fit the pacing horizon (1.3 s apart); the jobs without one are recorded throttled. A job
    # whose token lapsed before its chunk could start (a busy machine) went back untried, with no record.
    sent = len(handler.arrivals)
    throttled = deliveries(api, destination["id"], status="throttled")
    granted = 10 - len(throttled)
    assert 1 <= granted <= 2 and sent <= granted
    assert len(deliveries(api, destination["id"])) == sent + len(throttled)
    for delivery in throttled:
        assert delivery["attempts"] == 0
        detail = api.get(f"{BASE}/{destination['id']}/deliveries/{delivery['id']}").json()["delivery"]
        (entry,) = detail["attempt_log"]
        assert entry["outcome"] == "throttled" and entry["attempt"] is None and entry["error_class"] == "rate_limited"
        assert entry["next_attempt_at"] is not None
    metrics = api.get(f"{BASE}/{destination['id']}/metrics?window=1h").json()["metrics"]
    assert metrics["throttled_backlog"] == len(throttled)
    assert metrics["oldest_pending_seconds"] is not None and metrics["oldest_pending_seconds"] >= 0
    # Waiting is no outcome: nothing counted as failed, retrying or skipped.
    assert metrics["totals"]["failed"] == metrics["totals"]["retrying"] == metrics["totals"]["skipped"] == 0

    pipeline.run(timeout=60)
    assert len(handler.arrivals) == 10
    found = deliveries(api, destination["id"])
    assert {delivery["status"] for delivery in found} == {"delivered"}
    assert {delivery["attempts"] for delivery in found} == {1}
    metrics = api.get(f"{BASE}/{destination['id']}/metrics?window=1h").json()["metrics"]
    assert metrics["throttled_backlog"] == 0 and metrics["oldest_pending_seconds"] is None
    assert metrics["totals"]["delivered"] == 10


def test_a_retry_waiting_makes_the_oldest_pending_age_and_nothing_waits_on_an_unlimited_destination(
    api: ApiClient, pipeline: Pipeline
) -> None:
    with Sink(lambda request: SinkResponse(503, {"down": True})) as sink:
        destination = limited_webhook(api, sink.url, per_second=None)
        fan_out(pipeline, 1)
        pipeline.poll("DispatcherFunction")
    metrics = api.get(f"{BASE}/{destination['id']}/metrics?window=1h").json()["metrics"]
    assert metrics["throttled_backlog"] == 0
    assert metrics["oldest_pending_seconds"] is not None and metrics["oldest_pending_seconds"] >= 0


def test_delivery_rate_is_set_on_create_replaced_by_put_and_merged_by_patch(api: ApiClient) -> None:
    created = limited_webhook(api, "https://hooks.example.com/in", per_second=5)
    url = f"{BASE}/{created['id']}"
    assert created["delivery_rate"] == {"per_second": 5}
    assert api.get(url).json()["destination"]["delivery_rate"] == {"per_second": 5}
    patched = api.patch(url, {"delivery_rate": {"per_second": 1000}})
    assert patched.status == 200, patched.text
    assert patched.json()["destination"]["delivery_rate"] == {"per_second": 1000}
    # A PATCH naming something else keeps it; null removes it (unlimited).
    kept = api.patch(url, {"name": "Renamed"}).json()["destination"]
    assert kept["delivery_rate"] == {"per_second": 1000}
    removed = api.patch(url, {"delivery_rate": None})
    assert removed.json()["destination"]["delivery_rate"] is None
    put = {"name": "Limited", "delivery_rate": {"per_second": 3}, "actions": created["actions"]}
    put["actions"] = [{"id": action["id"], "name": action["name"], "action_type": "send_webhook"}
                      for action in created["actions"]]  # fmt: skip
    assert api.put(url, put).json()["destination"]["delivery_rate"] == {"per_second": 3}
    del put["delivery_rate"]  # PUT replaces the document: absent is unlimited
    assert api.put(url, put).json()["destination"]["delivery_rate"] is None


@pytest.mark.parametrize("per_second", [0, 1001, 2.5, "5"])
def test_a_delivery_rate_outside_1_to_1000_per_second_is_refused(api: ApiClient, per_second: Any) -> None:
    body = {
        "name": "Limited",
        "type": "generic_http",
        "credentials": {"url": "https://hooks.example.com/in"},
        "delivery_rate": {"per_second": per_second},
        "actions": [{"name": "All events", "action_type": "send_webhook"}],
    }
    response = api.post(BASE, body)
    assert response.status == 422, response.text
    assert "delivery_rate.per_second" in response.text


@contextlib.contextmanager
def updates_of(sort_key: str) -> Iterator[list[dict[str, Any]]]:
    """The UpdateItem calls on items with `sort_key` made by the project's clients created meanwhile."""
    seen: list[dict[str, Any]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "UpdateItem" and params.get("Key", {}).get("SK", {}).get("S") == sort_key:
            seen.append(params)

    aws_clients.session().register("before-parameter-build.dynamodb", note)
    try:
        yield seen
    finally:
        aws_clients.session().unregister("before-parameter-build.dynamodb", note)


def test_a_limited_destination_takes_its_tokens_in_one_call_per_batch_and_an_unlimited_one_in_none(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Receiver, Sink]
) -> None:
    """The same batch of 10 first attempts to a destination without and then with a rate: the same calls, plus one
    UpdateItem (the take) for the limited one."""
    handler, sink = receiver
    takes, sent, records = [], [], []
    for per_second in (None, 1000):
        destination = limited_webhook(api, sink.url, per_second=per_second)
        fan_out(pipeline, 10)
        before = len(handler.arrivals)
        with AwsMeter().installed() as meter, updates_of(RATE_SK) as rate_updates:
            runtime.reset()  # the project's clients again, metered
            assert pipeline.poll("DispatcherFunction") == 10
        takes.append(len(rate_updates))
        sent.append(len(handler.arrivals) - before)
        records.append(sum(1 for call in meter.calls if call.name == "dynamodb.PutItem"))
        assert api.delete(f"{BASE}/{destination['id']}").status == 204
    # Unlimited: every job sent and recorded, no take. Limited: one take for the batch's ten jobs, whatever was sent
    # (on a busy machine a chunk that starts past its token's grace gives its job back untried, with no record).
    assert takes == [0, 1] and sent[0] == records[0] == 10 and records[1] == sent[1], (takes, sent, records)
