"""Chaos run: 1,000 live events through fan-out and dispatch while 5 % of the DynamoDB, SQS and Secrets Manager
calls fail (seeded: throttles, 5xx, answers lost after the service acted) and 30 % of the endpoints' answers fail
(5xx, 400, timeouts, requests left hanging), over several destinations in two workspaces, one deleted midway. The
fan-out and the dispatcher run in several execution environments at once, as Lambda does.

Every event must end delivered exactly once per action or dead-lettered with a reason, every delivery's attempt
count must equal the requests its receiver saw, and nothing may reach the deleted destination once the batch that
was running when its DELETE returned has ended. The numbers are printed (`pytest -s` shows them).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.cache import TTLCache
from nimriz_destinations.storage import secrets
from nimriz_destinations.storage.deliveries import log_shard_pks
from nimriz_destinations.storage.parked_events import parked_pk
from tests.conftest import ApiClient
from tests.faults import AWS_SERVICES, Fault, FaultInjector
from tests.integration.test_delivery_pipeline import BASE, click, webhook_destination
from tests.local import lambdas
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkRequest, SinkResponse

pytestmark = pytest.mark.slow

EVENTS = 1000
# Long enough that a request always reaches a receiver on a loaded 2-core machine before the client gives up:
# otherwise a timeout could count an attempt the receiver never saw (that ambiguity is real, but not under test).
REQUEST_DEADLINE_SECONDS = 3.0
# Each kind of AWS fault dooms every attempt of this share of calls (5 % in all); the code sees the failure.
AWS_FAULT_SHARES = {Fault.THROTTLE: 0.02, Fault.SERVER_ERROR: 0.02, Fault.TIMEOUT_AFTER_SEND: 0.01}
FUNCTIONS = ("FanOutFunction", "DispatcherFunction", "DeliveriesDeadLetterFunction", "LiveEventsDeadLetterFunction")
ENVIRONMENTS = {"FanOutFunction": 2, "DispatcherFunction": 3}  # concurrent invocations, as Lambda runs them
# Attempts whose answer the dispatcher never got: the receiver may have accepted them all the same.
ANSWER_LOST = frozenset({"timeout", "network_error", "unrecorded"})
# Endpoint answers: (kind, share); 30 % fail.
ANSWERS = (("5xx", 0.25), ("400", 0.02), ("timeout", 0.02), ("hanging", 0.01), ("ok", 0.70))
# Just above the 15 s invocations (as Lambda requires), not minutes: failed messages come back soon.
VISIBILITY_SECONDS = {"LiveEventsQueue": 16, "DeliveriesQueue": 20, "DeliveriesDLQ": 16, "LiveEventsDLQ": 16}


@dataclass
class Receiver:
    """A receiver failing 30 % of the time: 5xx or 400 at once, 5xx after the request deadline, or no answer."""

    seed: int
    release: threading.Event
    sent: Counter[str] = field(default_factory=Counter)  # event id -> requests received
    accepted: Counter[str] = field(default_factory=Counter)  # event id -> 2xx answers
    last_request_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.answers: Counter[str] = Counter()

    def __call__(self, request: SinkRequest) -> SinkResponse:
        event_id = request.header("X-Nim-Event-Id") or "?"
        with self.lock:
            self.sent[event_id] += 1
            self.last_request_at = time.monotonic()
            kind = self.rng.choices([kind for kind, _ in ANSWERS], [share for _, share in ANSWERS])[0]
            self.answers[kind] += 1
            if kind == "ok":
                self.accepted[event_id] += 1
        if kind == "5xx":
            return SinkResponse(503, {"error": "chaos"})
        if kind == "400":
            return SinkResponse(400, {"error": "refused"})
        if kind == "timeout":
            time.sleep(REQUEST_DEADLINE_SECONDS + 0.3)  # answered after the client gave up
            return SinkResponse(503, {"error": "too late"})
        if kind == "hanging":
            self.release.wait(120)
            return SinkResponse(503, {"error": "hung"})
        return SinkResponse(200, {"ok": True})


def doomed_calls(rng: random.Random, share: float, doomed: Counter[str], service: str) -> Callable[[Any], bool]:
    """A fault-rule predicate dooming `share` of the calls, every attempt of them: the harness asks it once per
    attempt with the same parameters of the call, so the decision is kept in them (a copy the request never sees).
    Doomed calls are spread evenly from a seeded phase, so even a service with few calls gets its share."""
    phase = rng.random()
    calls = itertools.count(1)

    def where(params: dict[str, Any]) -> bool:
        if "__chaos_doomed" not in params:
            n = next(calls)
            params["__chaos_doomed"] = int(phase + n * share) > int(phase + (n - 1) * share)
            doomed[service] += params["__chaos_doomed"]
        return bool(params["__chaos_doomed"])

    return where


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # hanging requests end with the test


def test_a_thousand_events_under_aws_and_endpoint_faults_are_each_delivered_once_or_dead_lettered(
    api: ApiClient,
    other_api: ApiClient,
    pipeline: Pipeline,
    faults: FaultInjector,
    monkeypatch: pytest.MonkeyPatch,
    release: threading.Event,
) -> None:
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", str(REQUEST_DEADLINE_SECONDS))
    # Configs cached for 2 s: fan-out still routes to the deleted destination for that long, the dispatcher's
    # per-batch check must catch it.
    monkeypatch.setenv("CONFIG_CACHE_SECONDS", "2")
    runtime.reset()
    # Credentials re-read for every batch (not hourly), so Secrets Manager sees enough calls to fail 5 % of.
    monkeypatch.setattr(secrets, "_values", TTLCache(max_entries=512, ttl_seconds=0))
    pipeline.invocation_seconds.update(dict.fromkeys(FUNCTIONS, 15))
    sqs = boto3.client("sqs")
    for queue, seconds in VISIBILITY_SECONDS.items():
        url = pipeline.stack.queue_urls[queue]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(seconds)})

    receivers = {name: Receiver(seed, release) for seed, name in enumerate(("dev", "dev_doomed", "other"))}
    with contextlib.ExitStack() as running:
        sinks = {name: running.enter_context(Sink(receiver)) for name, receiver in receivers.items()}
        destinations = {
            name: webhook_destination(other_api if name == "other" else api, sink.url) for name, sink in sinks.items()
        }
        doomed: Counter[str] = Counter()
        rules = []

        def inject() -> None:
            for kind, share in AWS_FAULT_SHARES.items():
                for service in AWS_SERVICES:
                    where = doomed_calls(random.Random(f"{kind.value}{service}"), share, doomed, service)
                    rules.append(faults.fail(service, fault=kind, where=where))

        inject()
        rng = random.Random(9)
        events = [click() if rng.random() < 0.6 else other_events_click() for _ in range(EVENTS)]
        started = time.monotonic()
        pipeline.publish(*events)

        stop = threading.Event()
        pollers = [(f, n) for f in FUNCTIONS for n in range(ENVIRONMENTS.get(f, 1))]
        threads = [threading.Thread(target=keep_polling, args=(pipeline, *p, stop), daemon=True) for p in pollers]
        for thread in threads:
            thread.start()
        try:
            # Midway, the third destination is deleted (the API call itself is not under test: no faults).
            wait_until(lambda: sum(receivers["dev_doomed"].sent.values()) >= 50, timeout=90)
            for rule in rules:
                faults.remove(rule)
            rules.clear()
            assert api.delete(f"{BASE}/{destinations['dev_doomed']['id']}").status == 204
            inject()
            # The batches under way when the DELETE returned may still send; none started later may.
            lambdas.wait_for_invocations("DispatcherFunction", ENVIRONMENTS["DispatcherFunction"])
            settled_at = time.monotonic()
            sent_to_doomed_before = sum(receivers["dev_doomed"].sent.values())
            wait_until(lambda: in_flight(sqs, pipeline) == 0, timeout=300)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        elapsed = time.monotonic() - started
        for rule in rules:
            faults.remove(rule)

    report = account(pipeline, events, destinations, receivers)
    print(
        f"\nchaos run: {EVENTS} events, {report.deliveries} deliveries in {elapsed:.0f} s; "
        f"injected AWS faults (calls) {dict(doomed)}, (attempts) {dict(faults.injected)}; "
        f"endpoint answers {merged(r.answers for r in receivers.values())}; "
        f"delivered {report.delivered}, dead-lettered {report.dead_lettered}, skipped after delete {report.skipped}, "
        f"parked events {report.parked}, lost {len(report.lost)}, duplicate sends {len(report.duplicates)} "
        f"(accepted again after an answer lost to a timeout: {report.repeated_after_lost_answer}), "
        f"attempts-vs-requests mismatches {len(report.mismatches)}, "
        f"requests to the deleted destination after its DELETE settled "
        f"{sum(receivers['dev_doomed'].sent.values()) - sent_to_doomed_before}"
    )
    assert report.lost == [] and report.duplicates == [] and report.mismatches == []
    assert report.dead_letters_without_reason == []
    assert receivers["dev_doomed"].last_request_at <= settled_at
    assert all(doomed[service] > 0 for service in AWS_SERVICES), doomed
    assert report.delivered > 0 and report.dead_lettered > 0


def other_events_click() -> dict[str, Any]:
    return click(workspace_id="ws_other", organization_id="org_ws_other")


def keep_polling(pipeline: Pipeline, function: str, environment: int, stop: threading.Event) -> None:
    """Like an event source mapping: one invocation at a time in this execution environment, until stopped."""
    while not stop.is_set():
        try:
            received = pipeline.poll(function, environment)
        except Exception:  # e.g. a receive while moto is busy: try again, as the managed poller does
            received = 0
        if not received:
            stop.wait(0.1)


def in_flight(sqs: Any, pipeline: Pipeline) -> int:
    total = 0
    for queue in VISIBILITY_SECONDS:
        attributes = sqs.get_queue_attributes(
            QueueUrl=pipeline.stack.queue_urls[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total += int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    return total


def wait_until(condition: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the chaos run did not settle in time"
        time.sleep(0.5)


def merged(counters: Iterator[Counter[str]] | Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return dict(total)


@dataclass
class Report:
    deliveries: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    parked: int = 0
    lost: list[tuple[str, str]] = field(default_factory=list)
    # Sent again although the dispatcher had seen it accepted (a `delivered` attempt), or accepted by the receiver
    # more often than answers the dispatcher never got (timeouts, unrecorded attempts) can explain.
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    # Accepted twice because the first answer was lost to a timeout: at-least-once, explained by the log.
    repeated_after_lost_answer: int = 0
    mismatches: list[tuple[str, str, int, int, int]] = field(default_factory=list)
    dead_letters_without_reason: list[str] = field(default_factory=list)


def account(
    pipeline: Pipeline,
    events: list[dict[str, Any]],
    destinations: Mapping[str, dict[str, Any]],
    receivers: Mapping[str, Receiver],
) -> Report:
    """Compare the delivery log (read straight from the table) with what every receiver saw."""
    table = pipeline.stack.tables["DestinationsTable"]
    dynamodb = boto3.client("dynamodb")
    report = Report()
    parked_ids = parked_event_ids(dynamodb, table)
    report.parked = len(parked_ids)
    for name, destination in destinations.items():
        workspace = destination["workspace_id"]
        items = [item for pk in log_shard_pks(workspace, destination["id"]) for item in partition(dynamodb, table, pk)]
        summaries = {i["SK"]["S"][4:]: i for i in items if i["SK"]["S"].startswith("DLV#")}
        attempts: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            if item["SK"]["S"].startswith("DLV#"):  # the log a summary embeds (its entries omit empty fields)
                embedded = [json.loads(entry["S"]) for entry in item.get("log", {}).get("L", [])]
                attempts[item["SK"]["S"][4:]] += [{"error_class": None, **entry} for entry in embedded]
        letters = {i["SK"]["S"][3:]: i for i in items if i["SK"]["S"].startswith("DL#")}
        by_event: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for delivery_id, summary in summaries.items():
            doc = json_doc(summary)
            by_event[doc["event_id"]].append({**doc, "delivery_id": delivery_id})
        receiver = receivers[name]
        for event in events:
            if event["workspace_id"] != workspace:
                continue
            found = by_event.get(event["id"], [])
            if name != "dev_doomed" and not found and event["id"] not in parked_ids:
                report.lost.append((name, event["id"]))
            for doc in found:
                report.deliveries += 1
                status = doc["status"]
                if status == "delivered":
                    report.delivered += 1
                elif status == "dead_lettered":
                    report.dead_lettered += 1
                    letter = letters.get(doc["delivery_id"])
                    if letter is None or not json_doc(letter).get("error_class"):
                        report.dead_letters_without_reason.append(doc["delivery_id"])
                elif status == "skipped" and name == "dev_doomed":
                    report.skipped += 1
                else:
                    report.lost.append((name, event["id"]))
                logged = attempts[doc["delivery_id"]]
                seen_delivered = sum(a["outcome"] == "delivered" for a in logged)
                answer_lost = sum(a["error_class"] in ANSWER_LOST for a in logged)
                accepted = receiver.accepted[event["id"]]
                if seen_delivered != (status == "delivered") or not seen_delivered <= accepted <= (
                    seen_delivered + answer_lost
                ):
                    report.duplicates.append((name, event["id"]))
                report.repeated_after_lost_answer += max(0, accepted - 1)
                sent = receiver.sent[event["id"]]
                if not sent == len(logged) == doc["attempts"]:
                    report.mismatches.append((name, event["id"], sent, len(logged), doc["attempts"]))
    return report


def partition(dynamodb: Any, table: str, pk: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    while True:
        page = dynamodb.query(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def parked_event_ids(dynamodb: Any, table: str) -> set[str]:
    found: set[str] = set()
    for workspace in ("ws_dev", "ws_other"):
        for item in partition(dynamodb, table, parked_pk(workspace)):
            if "doc" in item:
                found.add(str(json_doc(item).get("event_id")))
    return found


def json_doc(item: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(item["doc"]["S"])
    return doc
