"""Pause that holds, resume, and recovery by time range and status (design §2.2), in-process on moto with a real
webhook receiver."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nimriz_destinations import aws, runtime
from nimriz_destinations.service import recoveries as recovery_service
from nimriz_destinations.storage import recoveries
from tests.conftest import ApiClient
from tests.integration.test_delivery_pipeline import BASE, click, deliveries, receiver, webhook_destination
from tests.local.lambdas import invoke
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkResponse

__all__ = ["receiver"]  # the fixture, shared with the pipeline tests

START = "2026-01-01T00:00:00Z"


def clicks_at(minutes: list[int]) -> list[dict[str, Any]]:
    """Clicks that occurred `minutes` after 10:00 on 2 Feb 2026, in the order given."""
    base = datetime(2026, 2, 2, 10, tzinfo=UTC)
    return [click(occurred_at=(base + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S.000Z")) for m in minutes]


def recover(api: ApiClient, destination_id: str, **body: Any) -> Any:
    return api.post(f"{BASE}/{destination_id}/recover", {"since": START, **body})


def test_pause_answers_the_destination_paused_and_every_view_shows_it(api: ApiClient, aws: Any) -> None:
    destination = webhook_destination(api, "https://hooks.example.com/in")
    assert destination["paused"] is False

    paused = api.post(f"{BASE}/{destination['id']}/pause")

    assert paused.status == 200, paused.text
    assert paused.json()["destination"]["paused"] is True
    assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["paused"] is True
    assert api.get(BASE).json()["destinations"][0]["paused"] is True
    resumed = api.post(f"{BASE}/{destination['id']}/resume")
    assert resumed.status == 200 and resumed.json()["destination"]["paused"] is False
    assert api.post(f"{BASE}/00000000-0000-4000-8000-000000000000/pause").status == 404


def test_a_paused_destination_holds_its_events_and_resume_sends_them_in_occurred_at_order(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    api.post(f"{BASE}/{destination['id']}/pause")
    minutes = random.sample(range(60), 8)
    events = clicks_at(minutes)

    pipeline.publish(*events)
    pipeline.run()

    assert sink.requests == []
    held = deliveries(api, destination["id"])
    assert sorted(d["event_id"] for d in held) == sorted(e["id"] for e in events)
    assert {d["status"] for d in held} == {"held"}
    assert api.post(f"{BASE}/{destination['id']}/resume").status == 200
    pipeline.run()

    in_order = [event["id"] for _, event in sorted(zip(minutes, events, strict=True), key=lambda pair: pair[0])]
    assert [d.event_id for d in handler.verified] == in_order
    assert {(d.reason, d.attempt) for d in handler.verified} == {("live", 1)}
    assert {d["status"] for d in deliveries(api, destination["id"])} == {"delivered"}


def test_a_delivery_held_past_hold_max_is_dead_lettered_hold_expired_and_recover_sends_it(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLD_MAX_SECONDS", "0")
    runtime.reset()
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    api.post(f"{BASE}/{destination['id']}/pause")
    event = click()
    pipeline.publish(event)
    pipeline.run()

    api.post(f"{BASE}/{destination['id']}/resume")
    pipeline.run()

    assert sink.requests == []
    (letter,) = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
    assert letter["error_class"] == "hold_expired" and letter["event_id"] == event["id"]
    answer = recover(api, destination["id"], statuses=["dead_lettered"])
    assert answer.status == 202, answer.text
    pipeline.run()
    assert [(d.event_id, d.reason) for d in handler.verified] == [(event["id"], "replay")]


def test_recover_sends_every_dead_letter_once_with_reason_replay_and_never_a_delivered_one(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    delivered = click()
    pipeline.publish(delivered)
    pipeline.run()
    sink.script.extend(SinkResponse(400, {"error": "bad field"}) for _ in range(3))
    failed = [click() for _ in range(3)]
    pipeline.publish(*failed)
    pipeline.run()
    assert len(api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]) == 3

    answer = recover(api, destination["id"], statuses=["failed", "dead_lettered", "skipped", "held"])

    assert answer.status == 202, answer.text
    recovery = answer.json()["recovery"]
    assert recovery["id"] and (recovery["matched"], recovery["queued"]) == (3, 3)
    pipeline.run()
    replayed = [d for d in handler.verified if d.reason == "replay"]
    assert sorted(d.event_id for d in replayed) == sorted(e["id"] for e in failed)
    assert [d.event_id for d in handler.verified].count(delivered["id"]) == 1
    assert api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"] == []
    # Recovering the same deliveries again queues the same deliveries, which are delivered already: nothing is sent.
    assert recover(api, destination["id"], statuses=["dead_lettered"]).status == 202
    pipeline.run()
    assert len(handler.verified) == 4


def test_skipped_deliveries_of_a_disabled_destination_are_recovered_once_it_is_enabled(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    events = [click() for _ in range(3)]
    pipeline.publish(*events)
    pipeline.poll("FanOutFunction")  # queued for the destination, then it is disabled before they are sent
    body = {k: destination[k] for k in ("name", "type", "credentials", "actions")}
    body["credentials"] = {"url": sink.url, "headers": {"Authorization": "Bearer hook-token"}}
    body["actions"] = [{k: a[k] for k in ("id", "name", "action_type")} for a in destination["actions"]]
    assert api.put(f"{BASE}/{destination['id']}", {**body, "enabled": False}).status == 200
    pipeline.run()
    skipped = deliveries(api, destination["id"])
    assert {d["status"] for d in skipped} == {"skipped"} and len(skipped) == 3
    assert sink.requests == []

    assert api.put(f"{BASE}/{destination['id']}", {**body, "enabled": True}).status == 200
    answer = recover(api, destination["id"], statuses=["skipped"])
    assert answer.status == 202 and answer.json()["recovery"]["queued"] == 3
    pipeline.run()

    assert sorted(d.event_id for d in handler.verified) == sorted(e["id"] for e in events)
    assert {d.reason for d in handler.verified} == {"replay"}


def test_one_recovery_per_destination_runs_at_a_time(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    sink.script.extend(SinkResponse(400, {"error": "bad"}) for _ in range(4))
    pipeline.publish(*[click() for _ in range(4)])
    pipeline.run()
    monkeypatch.setattr(recoveries, "READS_PER_PAGE", 1)  # a page per delivery: the recovery goes on in the background

    first = recover(api, destination["id"], statuses=["dead_lettered"])
    second = recover(api, destination["id"], statuses=["dead_lettered"])

    assert first.status == 202 and first.json()["recovery"]["queued"] == 1
    assert second.status == 409 and second.json()["error"]["code"] == "RECOVERY_RUNNING"
    pipeline.run()
    assert [d.reason for d in handler.verified] == ["replay"] * 4
    assert recover(api, destination["id"], statuses=["dead_lettered"]).status == 202


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"statuses": []}, "statuses"),
        ({"statuses": ["delivered"]}, "statuses[0]"),
        ({"statuses": ["failed"], "until": "2025-01-01T00:00:00Z"}, "until"),
        ({"statuses": ["failed"], "since": "yesterday"}, "since"),
    ],
)
def test_a_recovery_body_that_names_nothing_recoverable_is_refused(
    api: ApiClient, aws: Any, body: dict[str, Any], path: str
) -> None:
    destination = webhook_destination(api, "https://hooks.example.com/in")
    answer = recover(api, destination["id"], **body)
    assert answer.status == 422, answer.text
    assert [detail["path"] for detail in answer.json()["error"]["details"]] == [path]


def test_a_recovered_delivery_waiting_for_its_retry_goes_out_as_replay(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    sink.script.append(SinkResponse(503, {"error": "unavailable"}))
    event = click()
    pipeline.publish(event)
    pipeline.poll("FanOutFunction")
    pipeline.poll("DispatcherFunction")  # 503: `failed`, its retry scheduled a second later
    assert [d["status"] for d in deliveries(api, destination["id"])] == ["retrying"]

    answer = recover(api, destination["id"], statuses=["failed"])
    assert answer.status == 202 and answer.json()["recovery"]["queued"] == 1
    pipeline.run()

    assert [(d.attempt, d.reason) for d in handler.verified] == [(2, "replay")]
    assert [d["status"] for d in deliveries(api, destination["id"])] == ["delivered"]


def test_pause_and_resume_are_audited_with_their_actor_and_a_repeated_one_is_not(api: ApiClient, aws: Any) -> None:
    destination = webhook_destination(api, "https://hooks.example.com/in")
    url = f"{BASE}/{destination['id']}"

    for path in ("pause", "pause", "resume", "resume"):
        assert api.post(f"{url}/{path}").status == 200

    listed = api.get("/api/integrations/audit-log?limit=10").json()["audit_log"]
    resumed, paused = listed[:2]
    assert [resumed["action"], paused["action"]] == ["destination.resumed", "destination.paused"]
    assert [e["action"] for e in listed[2:]] == ["destination.created"]
    for entry, before in ((paused, False), (resumed, True)):
        assert entry["target"] == {"type": "destination", "id": destination["id"]}
        assert entry["actor"]["type"] == "api_key" and entry["actor"]["id"]
        assert [(c["path"], c["before"], c["after"]) for c in entry["changes"]] == [("paused", before, not before)]


# What EventBridge hands the sweep on its schedule (the function reads nothing of it).
SCHEDULED_EVENT = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def test_deliveries_held_past_hold_max_are_dead_lettered_hold_expired_by_the_sweep_while_still_paused(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOLD_MAX_SECONDS", "0")
    runtime.reset()
    # A paused destination and a held delivery per page: the sweep goes on through the Recoveries queue.
    monkeypatch.setattr(recovery_service, "SWEEP_DESTINATIONS_PER_PAGE", 1)
    monkeypatch.setattr(recovery_service, "EXPIRY_PAGE", 1)
    sink, handler = receiver
    paused = [webhook_destination(api, sink.url) for _ in range(2)]
    for destination in paused:
        assert api.post(f"{BASE}/{destination['id']}/pause").status == 200
    events = [click() for _ in range(2)]
    pipeline.publish(*events)
    pipeline.run()

    invoke("SweepHeldFunction", SCHEDULED_EVENT)
    pipeline.run()

    assert sink.requests == []
    for destination in paused:
        assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["paused"] is True
        assert {d["status"] for d in deliveries(api, destination["id"])} == {"dead_lettered"}
        letters = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
        assert sorted(letter["event_id"] for letter in letters) == sorted(event["id"] for event in events)
        assert {letter["error_class"] for letter in letters} == {"hold_expired"}
    resumed = paused[0]["id"]
    assert api.post(f"{BASE}/{resumed}/resume").status == 200
    assert api.post(f"{BASE}/{resumed}/dead-letters/replay", {}).status == 202
    pipeline.run()
    assert sorted((d.event_id, d.reason) for d in handler.verified) == sorted((e["id"], "replay") for e in events)


def test_a_release_of_several_pages_sends_every_held_event_in_occurred_at_order(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    api.post(f"{BASE}/{destination['id']}/pause")
    minutes = random.sample(range(1000), 2 * recovery_service.RELEASE_PAGE + 20)
    events = clicks_at(minutes)
    pipeline.publish(*events)
    pipeline.run()
    assert sink.requests == []

    assert api.post(f"{BASE}/{destination['id']}/resume").status == 200
    pipeline.run()

    in_order = [event["id"] for _, event in sorted(zip(minutes, events, strict=True), key=lambda pair: pair[0])]
    assert [d.event_id for d in handler.verified] == in_order


def test_a_held_delivery_the_index_did_not_show_yet_is_released_by_the_second_read_after_the_last_page(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held index is a global secondary index, eventually consistent: a Query may not show yet an item written
    just before it. The release reads it once more RELEASE_SWEEP_DELAY_SECONDS after its last page (design §2.2)."""
    monkeypatch.setenv("RELEASE_SWEEP_DELAY_SECONDS", "2")
    runtime.reset()
    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    api.post(f"{BASE}/{destination['id']}/pause")
    events = clicks_at([1, 2, 3])
    pipeline.publish(*events)
    pipeline.run()
    latest = events[-1]["id"]
    reads: list[int] = []  # the items each read of the held index showed

    def mark_held_reads(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["held_index_read"] = params.get("IndexName") == "held"

    def index_not_caught_up(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not context.get("held_index_read"):
            return
        if not reads:  # the release's first read does not show the latest event's delivery yet
            parsed["Items"] = [item for item in parsed["Items"] if latest not in json.dumps(item)]
        reads.append(len(parsed["Items"]))

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("provide-client-params.dynamodb.Query", mark_held_reads),
        ("after-call.dynamodb.Query", index_not_caught_up),
    ]
    for event_name, hook in hooks:
        aws.dynamodb().meta.events.register(event_name, hook)
    try:
        assert api.post(f"{BASE}/{destination['id']}/resume").status == 200
        pipeline.run()
    finally:
        for event_name, hook in hooks:
            aws.dynamodb().meta.events.unregister(event_name, hook)

    assert reads[0] == 2 and len(reads) >= 2, reads  # the first page without the latest, then the second read
    assert [d.event_id for d in handler.verified] == [event["id"] for event in events]
    assert {d["status"] for d in deliveries(api, destination["id"])} == {"delivered"}
