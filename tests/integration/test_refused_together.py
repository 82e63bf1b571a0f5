"""Items a provider refused together (its refusal of a whole request names no item, or names a batch-mate): the group
sender resends them at once in smaller requests until each refusal is its item's own, never failing a batch-mate,
and every request an item rode in is an attempt of its record (design §8.1, "refused together"). Real sockets on
loopback, a batching endpoint that refuses any request carrying a bad item."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nimriz_destinations.delivery.group_sender import GroupSender
from nimriz_destinations.delivery.outcomes import settle
from nimriz_destinations.delivery.retry import RetryPolicy
from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.jobs import DeliveryJob
from nimriz_destinations.providers import base
from nimriz_destinations.providers.base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, Verdict
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.delivery_items import DeliveryState
from nimriz_destinations.storage.delivery_states import DeliveryStates
from tests.local.template import LocalStack
from tests.sinks.server import Sink, SinkRequest, SinkResponse


class Batching(base.Provider):
    """Up to 10 items a request; an answer 422 is a refusal of the whole request that names no item."""

    destination_type = "batching_test"
    action_types = frozenset({"send_event"})
    max_batch_size = 10
    url: ClassVar[str] = ""

    def __init__(self) -> None:
        self.builds = 0

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        self.builds += 1
        body = json.dumps([item.payload for item in items]).encode()
        return Built([OutboundRequest("POST", f"{credentials['url']}/batch", {}, body, tuple(range(len(items))))])

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        if response.status == 422:
            return dict.fromkeys(request.items, Outcome.permanent("bad_batch", "a bad item").refused_together())
        return dict.fromkeys(request.items, base.classify_status(response))


class RebuildFails(Batching):
    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        if self.builds:
            raise RuntimeError("rebuilding failed")
        return super().build_requests(items, credentials, now=now)


def refusing_bad_items(request: SinkRequest) -> SinkResponse:
    return SinkResponse(422 if any(item.get("bad") for item in request.json()) else 200, {})


def items(count: int, bad: Sequence[int] = ()) -> list[DeliveryItem]:
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    return [DeliveryItem(f"dlv_{n}", event, {"n": n, "bad": n in bad}, "live", 1) for n in range(count)]


def send(provider: Batching, sink: Sink, group: list[DeliveryItem], **options: Any) -> dict[int, SendResult]:
    sender = HttpSender(allow_loopback=True)
    try:
        return GroupSender(sender).send(provider, {"url": sink.url}, group, **options)
    finally:
        sender.close()


def carried(sink: Sink) -> list[list[int]]:
    return [[item["n"] for item in request.json()] for request in sink.requests]


def test_a_refusal_naming_no_item_fails_only_the_bad_one_and_delivers_its_batch_mates_at_once() -> None:
    with Sink(refusing_bad_items) as sink:
        results = send(Batching(), sink, items(5, bad=[3]))
        requests = carried(sink)

    assert requests == [[0, 1, 2, 3, 4], [0, 1], [2, 3, 4], [2], [3, 4], [3], [4]]
    assert {n: results[n].outcome.verdict for n in results} == {
        0: Verdict.DELIVERED, 1: Verdict.DELIVERED, 2: Verdict.DELIVERED, 3: Verdict.PERMANENT, 4: Verdict.DELIVERED,
    }  # fmt: skip
    assert not results[3].outcome.resend_now  # alone in its request: the refusal is its own
    for n in results:  # every request an item rode in is one of its attempts
        assert results[n].requests == sum(n in request for request in requests)
        assert all(earlier.sent and earlier.http_status == 422 for earlier in results[n].earlier)


def test_a_lone_items_refusal_is_its_own_with_a_single_request() -> None:
    with Sink(refusing_bad_items) as sink:
        (result,) = send(Batching(), sink, items(1, bad=[0])).values()
        assert len(sink.requests) == 1
    assert (result.outcome.verdict, result.outcome.resend_now, result.requests) == (Verdict.PERMANENT, False, 1)


def test_without_time_to_resend_items_refused_together_are_retried_never_failed() -> None:
    starts = iter([True, True])  # authorizing, the first request; nothing after it

    with Sink(refusing_bad_items) as sink:
        results = send(Batching(), sink, items(3, bad=[1]), may_start=lambda: next(starts, False))
        assert len(sink.requests) == 1

    for result in results.values():
        assert (result.outcome.verdict, result.outcome.error_class) == (Verdict.RETRY, "bad_batch")
        assert not result.outcome.resend_now and result.requests == 1
        assert "not yet resent on its own" in (result.outcome.message or "")


def test_when_items_refused_together_cannot_be_rebuilt_they_are_retried() -> None:
    with Sink(refusing_bad_items) as sink:
        results = send(RebuildFails(), sink, items(2, bad=[0]))
        assert len(sink.requests) == 1
    assert {result.outcome.verdict for result in results.values()} == {Verdict.RETRY}


def test_each_request_an_item_rode_in_is_a_log_entry_numbered_after_the_records_attempts() -> None:
    with Sink(refusing_bad_items) as sink:
        results = send(Batching(), sink, items(4, bad=[0]))
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    job = DeliveryJob.model_validate(
        {"delivery_id": "dlv_1", "workspace_id": "ws_1", "organization_id": "org_1", "destination_id": "d_1",
         "action_id": "a_1",
         "event": event, "reason": "live", "queued_at": "2026-12-07T08:00:00Z"}
    )  # fmt: skip
    state = DeliveryState(rev=2, status="retrying", attempts=1, unrecorded=1)  # two requests before this send

    innocent = settle(job, state, results[1], RetryPolicy(), now=1_800_000_000).write  # rode in [0-3], [0, 1], [1]
    logged = [(entry.attempt, entry.outcome, entry.error_class) for entry in innocent.entries]
    assert logged == [
        (2, "retry", "unrecorded"),
        (3, "retry", "bad_batch"),
        (4, "retry", "bad_batch"),
        (5, "delivered", None),
    ]
    assert (innocent.summary.status, innocent.summary.attempts) == ("delivered", 5)
    assert "sent again at once" in (innocent.entries[1].message or "")

    culprit = settle(job, state, results[0], RetryPolicy(), now=1_800_000_000).write  # [0-3], [0, 1], [0]
    assert (culprit.summary.status, culprit.summary.attempts, len(culprit.entries)) == ("dead_lettered", 5, 4)


def test_a_group_send_whose_outcome_cannot_be_written_is_marked_as_every_request_it_made(aws: LocalStack) -> None:
    states = DeliveryStates(aws.tables["DestinationsTable"])
    key = ("ws_1", "d_1", "dlv_1")
    assert states.hold(key, until=1.0) is None
    assert states.mark_unrecorded(key, rev=0, token="t1", sends=3) is None
    assert states.mark_unrecorded(key, rev=0, token="t1", sends=3) is None  # its answer lost: the retry adds nothing
    (state,) = states.read([key]).values()
    assert (state.unrecorded, state.sends) == (3, 3)
