"""Every write on a delivery's life (design §2, "A delivery's life") under the fault production sees most: the call
takes effect, its answer is lost, botocore's retry runs. Applied to one call site at a time, the endpoint must see
as many requests as the delivery counts attempts and lists log entries, each attempt number once."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from tests.conftest import ApiClient
from tests.faults import Fault, FaultInjector, Rule
from tests.integration.test_delivery_pipeline import BASE, click, webhook_destination
from tests.integration.test_pause_and_recover import SCHEDULED_EVENT
from tests.local.lambdas import invoke
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkRequest, SinkResponse

Params = Mapping[str, Any]
# Short invocations: a held or leased job is back within seconds.
INVOCATION_SECONDS = 8


@pytest.fixture(autouse=True)
def short_invocations(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "2")
    runtime.reset()
    pipeline.invocation_seconds["DispatcherFunction"] = INVOCATION_SECONDS


def on_summary(params: Params) -> bool:
    return str(params.get("Key", {}).get("SK", {}).get("S", "")).startswith("DLV#")


def summary_update(pattern: str) -> Callable[[Params], bool]:
    """An UpdateItem of a delivery's summary whose update expression matches `pattern`."""
    return lambda params: on_summary(params) and re.search(pattern, params.get("UpdateExpression", "")) is not None


def records_outcome(params: Params) -> bool:
    """A write of a delivery's outcome: its summary with a status, alone or with its dead letter in a transaction."""
    writes = [next(iter(item.values())) for item in params.get("TransactItems", [])] or [params]
    puts = [write["Item"] for write in writes if "Item" in write]
    return any(summary_update(r"#status = ")(write) for write in writes) or any(
        item["SK"]["S"].startswith("DLV#") and "status" in item for item in puts
    )


def sends_jobs(params: Params) -> bool:
    """Jobs queued on the Deliveries queue or the released deliveries' FIFO queue."""
    return re.search(r"DeliveriesQueue(\.fifo)?$", str(params.get("QueueUrl", ""))) is not None


def moves_a_retry(params: Params) -> bool:
    """A released delivery's retry leaving the FIFO queue for the Deliveries queue (with its delay)."""
    return sends_jobs(params) and any("DelaySeconds" in entry for entry in params.get("Entries", []))


def once(predicate: Callable[[Params], bool]) -> Callable[[Params], bool]:
    """`predicate`, true for the first call it matches only (every attempt of that call: they share `params`)."""
    first: list[Params] = []

    def first_call(params: Params) -> bool:
        if predicate(params) and not first:
            first.append(params)
        return bool(first) and first[0] is params

    return first_call


def outcomes_refused_until_a_send_is_marked(faults: FaultInjector) -> None:
    """Every outcome write fails until a send has been marked unrecorded (the record cannot be written at all)."""
    marked: list[bool] = []

    def refused(params: Params) -> bool:
        if summary_update(r"ADD unrecorded ")(params):
            marked.append(True)
        return not marked and records_outcome(params)

    faults.fail("dynamodb", ("PutItem", "UpdateItem", "TransactWriteItems"), fault=Fault.SERVER_ERROR, where=refused)


@dataclass(frozen=True)
class Site:
    """One write call site on a delivery's life, and how a delivery comes to make that call."""

    service: str
    operation: str | tuple[str, ...]
    where: Callable[[Params], bool]
    answers: tuple[int, ...] = (200,)  # what the endpoint answers, request by request (then 200)
    call: int = 1  # which matching call loses its answer
    # Extra faults that route the delivery through this site (e.g. a job queued again).
    setup: Callable[[FaultInjector], object] = lambda _: None
    expected_status: str = "delivered"
    # The destination is paused before the event and resumed after it was held (design §2.2).
    paused: bool = False
    # The destination is paused before the event, which is held past HOLD_MAX_SECONDS (0) and expired by the sweep.
    expires: bool = False
    # The destination's delivery rate (design §8.11), and how far ahead its bucket's next free token is at first.
    per_second: int | None = None
    bucket_busy_for: float = 0.0


def on_destination(pattern: str) -> Callable[[Params], bool]:
    """An UpdateItem of a destination item whose update expression matches `pattern`."""
    return lambda params: (
        str(params.get("Key", {}).get("SK", {}).get("S", "")).startswith("DEST#")
        and (re.search(pattern, params.get("UpdateExpression", "")) is not None)
    )


def holds_paused(params: Params) -> bool:
    """The transaction holding a paused destination's delivery: its check that the destination is still paused."""
    return any("ConditionCheck" in item for item in params.get("TransactItems", []))


def on_walk(prefix: str, pattern: str = "") -> Callable[[Params], bool]:
    """A write of a recovery or release item (its sort key starts with `prefix`)."""

    def matches(params: Params) -> bool:
        key = params.get("Key") or params.get("Item") or {}
        return (
            str(key.get("SK", {}).get("S", "")).startswith(prefix)
            and re.search(pattern, params.get("UpdateExpression", "")) is not None
        )

    return matches


def takes_tokens(params: Params) -> bool:
    """The UpdateItem taking a rate-limited destination's tokens (storage/rate_buckets.py)."""
    return params.get("Key", {}).get("SK", {}).get("S") == "RATE"


def records_rate_wait(params: Params) -> bool:
    """The first record of a job its destination's delivery rate held back: status `throttled`."""
    return params.get("Item", {}).get("status", {}).get("S") == "throttled"


def busy_bucket(table: str, workspace_id: str, destination_id: str, *, seconds: float) -> None:
    """The destination's next free token `seconds` from now, past the pacing horizon: its next job waits."""
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={
            "PK": {"S": f"WS#{workspace_id}#DEST#{destination_id}"},
            "SK": {"S": "RATE"},
            "free_at": {"N": f"{time.time() + seconds:.3f}"},
            "taker": {"S": "another-dispatcher"},
        },
    )


SITES = {
    "fan-out queues the jobs": Site("sqs", "SendMessageBatch", sends_jobs),
    "first attempt recorded": Site("dynamodb", "PutItem", records_outcome),
    "a retry scheduled on the queue": Site(
        "sqs", ("ChangeMessageVisibility", "ChangeMessageVisibilityBatch"), lambda _: True, answers=(503,)
    ),
    "hold of a job queued again": Site(
        "dynamodb",
        "UpdateItem",
        summary_update(r"SET hold_until = "),
        # The job's first send fails outright: it is queued again, and may have a twin.
        setup=lambda faults: faults.fail("sqs", "SendMessageBatch", call=1, where=sends_jobs),
    ),
    "lease of a retry": Site("dynamodb", "UpdateItem", summary_update(r"lease_until = "), answers=(503,)),
    "release of a lease unused": Site(
        "dynamodb",
        "UpdateItem",
        summary_update(r"REMOVE lease_until"),
        answers=(503,),
        # The retry's lease answers so late that its request no longer fits in the invocation: it is released.
        setup=lambda faults: faults.slow(
            "dynamodb", "UpdateItem", seconds=2.5, where=once(summary_update(r"lease_until = "))
        ),
    ),
    "outcome recorded after a lease": Site(
        "dynamodb", ("UpdateItem", "TransactWriteItems"), records_outcome, answers=(503,)
    ),
    "dead letter recorded": Site(
        "dynamodb", "TransactWriteItems", records_outcome, answers=(400,), expected_status="dead_lettered"
    ),
    "pause": Site("dynamodb", "UpdateItem", on_destination(r"SET #paused = "), paused=True),
    "a delivery held while paused": Site("dynamodb", "TransactWriteItems", holds_paused, paused=True),
    "resume": Site("dynamodb", "UpdateItem", on_destination(r"REMOVE #paused"), paused=True),
    "a release started": Site("dynamodb", "PutItem", on_walk("RELEASE#"), paused=True),
    "a release page claimed": Site("dynamodb", "UpdateItem", on_walk("RELEASE#", r"page_token = "), paused=True),
    "a release page queued": Site("sqs", "SendMessageBatch", sends_jobs, call=2, paused=True),
    "a released delivery's retry moved to the Deliveries queue": Site(
        "sqs", "SendMessageBatch", moves_a_retry, answers=(503,), paused=True
    ),
    "a sweep's expiry started": Site(
        "dynamodb", "PutItem", on_walk("EXPIRY#"), expires=True, expected_status="dead_lettered"
    ),
    "an expiry page claimed": Site(
        "dynamodb", "UpdateItem", on_walk("EXPIRY#", r"page_token = "), expires=True, expected_status="dead_lettered"
    ),
    "an expiry page queued": Site(
        "sqs", "SendMessageBatch", sends_jobs, call=2, expires=True, expected_status="dead_lettered"
    ),
    "a held delivery dead-lettered hold_expired": Site(
        "dynamodb",
        "TransactWriteItems",
        lambda params: records_outcome(params) and not holds_paused(params),
        expires=True,
        expected_status="dead_lettered",
    ),
    "a delivery-rate token take": Site("dynamodb", "UpdateItem", takes_tokens, per_second=5),
    "a delivery-rate token take of a busy bucket": Site(
        "dynamodb", "UpdateItem", takes_tokens, per_second=5, bucket_busy_for=0.5
    ),
    "a job over the delivery rate recorded throttled": Site(
        "dynamodb", "PutItem", records_rate_wait, per_second=5, bucket_busy_for=1.5
    ),
    "a send marked unrecorded": Site(
        "dynamodb",
        "UpdateItem",
        summary_update(r"ADD unrecorded "),
        # The first outcome cannot be written at all: the send is marked, and counted by the next record.
        setup=outcomes_refused_until_a_send_is_marked,
    ),
}


@dataclass
class Endpoint:
    answers: list[int]
    requests: list[SinkRequest] = field(default_factory=list)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        self.requests.append(request)
        status = self.answers.pop(0) if self.answers else 200
        return SinkResponse(status, {"status": status})


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[Endpoint, Sink]]:
    site: Site = SITES[request.node.callspec.id]
    handler = Endpoint(list(site.answers))
    with Sink(handler) as sink:
        yield handler, sink


@pytest.mark.parametrize("site", SITES.values(), ids=SITES.keys())
def test_a_write_whose_answer_is_lost_counts_every_request_once_and_sends_nothing_twice(
    api: ApiClient,
    aws: LocalStack,
    pipeline: Pipeline,
    faults: FaultInjector,
    endpoint: tuple[Endpoint, Sink],
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, sink = endpoint
    if site.expires:
        monkeypatch.setenv("HOLD_MAX_SECONDS", "0")
        runtime.reset()
    destination = webhook_destination(api, sink.url)
    if site.per_second is not None:
        rate = {"delivery_rate": {"per_second": site.per_second}}
        assert api.patch(f"{BASE}/{destination['id']}", rate).status == 200
    if site.bucket_busy_for:
        busy_bucket(aws.tables["DestinationsTable"], "ws_dev", destination["id"], seconds=site.bucket_busy_for)
    site.setup(faults)
    lost: Rule = faults.lose_answer(site.service, site.operation, call=site.call, where=site.where)
    event = click()
    if site.paused or site.expires:
        assert api.post(f"{BASE}/{destination['id']}/pause").status == 200
    pipeline.publish(event)
    pipeline.run(timeout=90)
    if site.paused:
        assert not handler.requests
        assert api.post(f"{BASE}/{destination['id']}/resume").status == 200
        pipeline.run(timeout=90)
    if site.expires:
        invoke("SweepHeldFunction", SCHEDULED_EVENT)
        pipeline.run(timeout=90)
        assert not handler.requests

    assert lost.injected == 1, ("the call site was never reached", dict(faults.injected), dict(faults.attempts))
    summaries = api.get(f"{BASE}/{destination['id']}/deliveries").json()["deliveries"]
    (summary,) = summaries
    detail = api.get(f"{BASE}/{destination['id']}/deliveries/{summary['id']}").json()["delivery"]
    sent = [request.header("X-Nim-Delivery-Attempt") for request in handler.requests]
    # A wait for the delivery rate is logged without an attempt (design §8.11): at most one, before the send.
    waits = [entry for entry in detail["attempt_log"] if entry["error_class"] == "rate_limited"]
    assert len(waits) == (1 if site.bucket_busy_for > 1 else 0) and all(entry["attempt"] is None for entry in waits)
    logged = [entry["attempt"] for entry in detail["attempt_log"] if entry not in waits]
    assert summary["status"] == site.expected_status, detail
    assert len(handler.requests) == summary["attempts"] == len(logged), (sent, detail)
    assert sent == [str(number) for number in range(1, len(sent) + 1)] and logged == list(range(1, len(sent) + 1))
    assert sum(entry["outcome"] == "delivered" for entry in detail["attempt_log"]) <= 1
