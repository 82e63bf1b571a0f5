"""The delivery pipeline in-process on moto, with real receivers on loopback sockets."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.deliveries import summary_key
from tests.conftest import ApiClient
from tests.pipeline import Pipeline
from tests.sinks.segment import segment_sink
from tests.sinks.server import Sink, SinkResponse
from tests.sinks.webhook_receiver import webhook_receiver

BASE = "/api/integrations/destinations"
SIGNING_SECRET = "whsec_pipeline_test_secret_0123456789"


@pytest.fixture
def receiver() -> Iterator[tuple[Sink, Any]]:
    handler = webhook_receiver(SIGNING_SECRET, required_headers={"Authorization": "Bearer hook-token"})
    with Sink(handler) as sink:
        yield sink, handler


def webhook_destination(api: ApiClient, url: str, **action: Any) -> dict[str, Any]:
    body = {
        "name": "Webhook",
        "type": "generic_http",
        "credentials": {
            "url": url,
            "headers": {"Authorization": "Bearer hook-token"},
            "signing_secret": SIGNING_SECRET,
        },
        "actions": [{"name": "All events", "action_type": "send_webhook", **action}],
    }
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def click(**overrides: Any) -> dict[str, Any]:
    event = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    event.update(overrides)
    return event


def deliveries(api: ApiClient, destination_id: str, **query: str) -> list[dict[str, Any]]:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    response = api.get(f"{BASE}/{destination_id}/deliveries?limit=100&{suffix}")
    assert response.status == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


def test_live_click_reaches_the_webhook_with_a_verifiable_signature(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, f"{sink.url}/hook")
    event = click()

    pipeline.publish(event)
    pipeline.run()

    (delivered,) = handler.verified
    assert delivered.event_id == event["id"] and delivered.event_type == "link.clicked"
    assert delivered.reason == "live" and delivered.attempt == 1
    assert delivered.envelope["data"]["link"]["short_code"] == event["link"]["short_code"]
    (logged,) = deliveries(api, destination["id"])
    assert logged["status"] == "delivered" and logged["event_id"] == event["id"]
    health = api.get(f"{BASE}/{destination['id']}").json()["destination"]["health"]
    assert health["last_success_at"] and health["consecutive_failures"] == 0


def test_filtered_out_event_sends_nothing(api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]) -> None:
    sink, _ = receiver
    destination = webhook_destination(api, sink.url, event_filter={"include": {"event_types": ["link.qr_scanned"]}})
    pipeline.publish(click())
    pipeline.run()
    assert sink.requests == []
    assert deliveries(api, destination["id"]) == []


def test_bot_events_are_dropped_when_excluded(api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]) -> None:
    sink, handler = receiver
    webhook_destination(api, sink.url, event_filter={"exclude": {"bot_traffic": True}})
    human, bot = click(), click(bot_flag=True)
    pipeline.publish(human, bot)
    pipeline.run()
    assert [d.event_id for d in handler.verified] == [human["id"]]


def test_a_500_then_200_is_retried_and_succeeds(api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]) -> None:
    sink, handler = receiver
    sink.script.append(SinkResponse(500, {"error": "try later"}))
    destination = webhook_destination(api, sink.url)
    pipeline.publish(click())
    pipeline.run()

    assert [(d.attempt, d.reason) for d in handler.verified] == [(2, "retry")]
    (logged,) = deliveries(api, destination["id"])
    detail = api.get(f"{BASE}/{destination['id']}/deliveries/{logged['id']}").json()["delivery"]
    assert detail["status"] == "delivered" and detail["attempts"] == 2
    assert [(a["outcome"], a["http_status"]) for a in detail["attempt_log"]] == [("retry", 500), ("delivered", 200)]
    assert detail["attempt_log"][0]["next_attempt_at"]


def test_a_400_is_dead_lettered_without_retries_and_replay_delivers_the_same_event(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    sink.script.append(SinkResponse(400, {"error": "bad payload"}))
    destination = webhook_destination(api, sink.url)
    event = click()
    pipeline.publish(event)
    pipeline.run()

    assert len(sink.requests) == 1 and handler.verified == []
    (letter,) = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
    assert letter["event_id"] == event["id"] and letter["http_status"] == 400 and letter["attempts"] == 1
    assert "bad payload" in letter["response_excerpt"]

    replay = api.post(f"{BASE}/{destination['id']}/dead-letters/replay", {"ids": [letter["id"]]})
    assert replay.status == 202, replay.text
    pipeline.run()

    (delivered,) = handler.verified
    assert delivered.event_id == event["id"] and delivered.reason == "replay"
    assert api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"] == []
    statuses = Counter(d["status"] for d in deliveries(api, destination["id"]))
    assert statuses == {"dead_lettered": 1, "delivered": 1}


def test_retries_stop_after_six_attempts_with_a_dead_letter(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, _ = receiver
    sink.script.extend(SinkResponse(503, {"error": "down"}, {"Retry-After": "1"}) for _ in range(10))
    destination = webhook_destination(api, sink.url)
    pipeline.publish(click())
    pipeline.run()
    (summary,) = deliveries(api, destination["id"])
    attempts = api.get(f"{BASE}/{destination['id']}/deliveries/{summary['id']}").json()["delivery"]["attempt_log"]
    # Attempts are counted from the delivery's record, one per send: exactly six sends, each one logged.
    error_classes = [(a["attempt"], a["error_class"], a["http_status"]) for a in attempts]
    sent = [int(request.header("X-Nim-Delivery-Attempt") or 0) for request in sink.requests]
    assert sent == [1, 2, 3, 4, 5, 6], error_classes
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6], error_classes
    assert all(a["http_status"] == 503 and a["outcome"] == "retry" for a in attempts), error_classes
    (letter,) = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
    assert letter["attempts"] == 6 and "gave up after 6 attempts" in letter["message"]
    health = api.get(f"{BASE}/{destination['id']}").json()["destination"]["actions"][0]["health"]
    assert health["consecutive_failures"] == 6


def test_test_send_outcome_shows_in_the_delivery_log(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    destination = webhook_destination(api, sink.url, enabled=False)  # users test before enabling
    action_id = destination["actions"][0]["id"]
    queued = api.post(f"{BASE}/{destination['id']}/test-send", {"action_id": action_id}).json()["delivery"]
    pipeline.run()
    (delivered,) = handler.verified
    assert delivered.event_type == "nim.webhook.test" and delivered.reason == "test"
    detail = api.get(f"{BASE}/{destination['id']}/deliveries/{queued['id']}")
    assert detail.status == 200
    assert detail.json()["delivery"]["status"] == "delivered"


def test_the_same_job_processed_twice_is_sent_once(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    webhook_destination(api, sink.url)
    event = click()
    pipeline.publish(event, event)  # the edge sent the same event twice: same delivery ids
    pipeline.run()
    assert len(handler.verified) == 1


def test_invalid_event_is_dead_lettered_with_its_reason_not_retried(api: ApiClient, pipeline: Pipeline) -> None:
    pipeline.publish("{not json", json.dumps({**click(), "type": "link.teleported"}))
    pipeline.run()
    letters = pipeline.dead_lettered_events()
    reasons = sorted(attributes["reason"] for _, attributes in letters)
    assert len(letters) == 2
    assert reasons[0].startswith("not JSON") or reasons[1].startswith("not JSON")
    assert any("type" in reason for reason in reasons)


def test_segment_destination_receives_track_calls_in_a_batch(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sink(segment_sink("seg_write_key_0123456789")) as sink:
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"segment": sink.url}))
        runtime.reset()
        body = {
            "name": "Segment",
            "type": "segment",
            "credentials": {"write_key": "seg_write_key_0123456789"},
            "actions": [{"name": "Send event", "action_type": "send_event"}],
        }
        destination = api.post(BASE, body).json()["destination"]
        events = [click() for _ in range(3)]
        pipeline.publish(*events)
        pipeline.run()
        calls = [r.json() for r in sink.requests]
        sent = [call for request in calls for call in request.get("batch", [request])]
        assert sorted(c["messageId"] for c in sent) == sorted(e["id"] for e in events)
        assert {c["event"] for c in sent} == {"Link Clicked"} and all(c["type"] == "track" for c in sent)
        assert all(d["status"] == "delivered" for d in deliveries(api, destination["id"]))


@pytest.mark.slow
def test_nothing_is_lost_with_a_receiver_failing_30_percent_of_the_time(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    flaky = random.Random(42)
    lock = threading.Lock()

    def sometimes_failing(request: Any) -> SinkResponse:
        with lock:
            fail = flaky.random() < 0.3
        return SinkResponse(500, {"error": "random"}) if fail else handler(request)

    sink.handler = sometimes_failing
    destination = webhook_destination(api, sink.url)
    events = [click(id=str(uuid.uuid4())) for _ in range(1000)]
    pipeline.publish(*events)
    pipeline.run(timeout=600)

    final: dict[str, str] = {}
    cursor = None
    while True:
        url = f"{BASE}/{destination['id']}/deliveries?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url).json()
        for summary in page["deliveries"]:
            assert summary["event_id"] not in final, "one delivery per event"
            final[summary["event_id"]] = summary["status"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert set(final) == {e["id"] for e in events}
    assert set(final.values()) <= {"delivered", "dead_lettered"}
    accepted = Counter(d.event_id for d in handler.verified)
    delivered = {event_id for event_id, status in final.items() if status == "delivered"}
    assert set(accepted) == delivered and set(accepted.values()) == {1}
    letters = api.get(f"{BASE}/{destination['id']}/dead-letters?limit=100").json()["dead_letters"]
    assert {letter["event_id"] for letter in letters} == set(final) - delivered


def test_an_event_seen_again_after_delivery_is_not_sent_again(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    webhook_destination(api, sink.url)
    event = click()
    pipeline.publish(event)
    pipeline.run()
    pipeline.publish(event)  # the edge re-sent it later: same delivery id, already delivered
    pipeline.run()
    assert len(handler.verified) == 1 and len(sink.requests) == 1


def test_google_ads_token_is_refreshed_once_after_a_401(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.providers import GOOGLE_ADS, PROVIDERS
    from tests.sinks.google_ads import GoogleAdsSink

    handler = PROVIDERS["google_ads"].handler()
    assert isinstance(handler, GoogleAdsSink)
    with Sink(handler) as sink:
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"google_ads": sink.url}))
        runtime.reset()
        body = {
            "name": "Google Ads",
            "type": "google_ads",
            "credentials": GOOGLE_ADS,
            "actions": [{"name": "Sales", "action_type": "send_conversion"}],
        }
        destination = api.post(BASE, body).json()["destination"]
        sale = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
        pipeline.publish(sale)
        pipeline.run()
        handler.revoke_access_tokens()  # the cached token now answers 401
        second = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
        pipeline.publish(second)
        pipeline.run()

        token_requests = [r for r in sink.requests if r.path == "/token"]
        assert len(token_requests) == 2  # the first token, then exactly one refresh
        statuses = {d["event_id"]: (d["status"], d["attempts"]) for d in deliveries(api, destination["id"])}
        assert statuses == {sale["id"]: ("delivered", 1), second["id"]: ("delivered", 1)}


def test_a_job_the_dispatcher_kept_failing_on_becomes_a_replayable_dead_letter(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    from nimriz_destinations.jobs import DeliveryJob

    sink, handler = receiver
    destination = webhook_destination(api, sink.url)
    event = click()
    job = DeliveryJob(
        delivery_id=str(uuid.uuid4()),
        workspace_id="ws_dev",
        organization_id="org_dev",
        destination_id=destination["id"],
        action_id=destination["actions"][0]["id"],
        reason="live",
        event=event,
        queued_at="2026-11-28T12:00:00.000Z",
    )
    # What SQS redrive does after maxReceiveCount failed receives (e.g. the dispatcher crashed on it each time).
    pipeline.sqs.send_message(QueueUrl=pipeline.stack.queue_urls["DeliveriesDLQ"], MessageBody=job.model_dump_json())
    pipeline.run()

    (letter,) = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
    assert letter["event_id"] == event["id"] and letter["error_class"] == "processing_failed"
    assert handler.verified == []
    assert api.post(f"{BASE}/{destination['id']}/dead-letters/replay", {}).status == 202
    pipeline.run()
    (delivered,) = handler.verified
    assert delivered.event_id == event["id"] and delivered.reason == "replay"


def test_a_mapping_that_amplifies_the_event_past_64_kb_is_dead_lettered_unsent(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, _ = receiver
    # 100 copies of a field the visitor controls (the landing URL's utm_content): a 16.9 KB event would be 1.6 MB.
    copies = [{"type": "include", "field": "utm.content", "to": f"copies.c{n:02d}"} for n in range(100)]
    destination = webhook_destination(api, sink.url, property_mapping={"base": "default", "overrides": copies})
    event = click()
    event["utm"]["content"] = "x" * 16_000
    pipeline.publish(event)
    pipeline.run()

    assert sink.requests == []
    (summary,) = deliveries(api, destination["id"])
    detail = api.get(f"{BASE}/{destination['id']}/deliveries/{summary['id']}").json()["delivery"]
    assert (detail["status"], detail["attempts"], detail["attempt_log"]) == ("dead_lettered", 0, [])
    (letter,) = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
    assert (letter["error_class"], letter["attempts"], letter["http_status"]) == ("payload_too_large", 0, None)
    assert "64 KB" in letter["message"]


DELIVERY_ITEMS = ("DLV#", "DL#")


def delivery_writes(operation: str, params: dict[str, Any]) -> list[str]:
    """The delivery-log items (sort keys) one DynamoDB write call writes."""
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        requests = [params]
    elif operation == "TransactWriteItems":
        requests = [next(iter(item.values())) for item in params["TransactItems"]]
    elif operation == "BatchWriteItem":
        requests = [next(iter(r.values())) for rs in params["RequestItems"].values() for r in rs]
    else:
        return []
    keys = [request.get("Key") or request["Item"] for request in requests]
    return [key["SK"]["S"] for key in keys if key["SK"]["S"].startswith(DELIVERY_ITEMS)]


def item_bytes(value: dict[str, Any]) -> int:
    """What DynamoDB counts for an attribute value (strings as UTF-8, numbers by significant digits, lists with
    3 bytes of overhead and 1 per element)."""
    if "S" in value:
        return len(value["S"].encode())
    if "N" in value:
        digits = value["N"].lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if "SS" in value:
        return sum(len(text.encode()) for text in value["SS"])
    return 3 + sum(1 + item_bytes(element) for element in value["L"])


def test_a_first_attempt_that_succeeds_costs_one_dynamodb_write_of_one_item_under_1_kb(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    from nimriz_destinations import aws

    sink, handler = receiver
    destination = webhook_destination(api, f"{sink.url}/hook")
    event = click()
    pipeline.publish(event)
    assert pipeline.poll("FanOutFunction") == 1
    calls: list[tuple[str, list[str]]] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        if written := delivery_writes(model.name, params):
            calls.append((model.name, written))

    events = aws.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb.*", note)
    try:
        assert pipeline.poll("DispatcherFunction") == 1
    finally:
        events.unregister("before-parameter-build.dynamodb.*", note)

    assert len(handler.verified) == 1
    (summary,) = deliveries(api, destination["id"])
    assert [written for _, written in calls] == [[f"DLV#{summary['id']}"]], calls
    table = pipeline.stack.tables["DestinationsTable"]
    key = summary_key("ws_dev", destination["id"], summary["id"])
    item: dict[str, Any] = boto3.client("dynamodb").get_item(TableName=table, Key=key)["Item"]
    size = sum(len(name.encode()) + item_bytes(value) for name, value in item.items())
    assert size <= 1024, (size, item)


def test_a_destination_that_delivers_gets_sixteen_requests_at_once_in_one_batch(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    together = threading.Barrier(16, timeout=10)  # the answers after the first 2 wait until 16 are under way
    attempts: list[str | None] = []
    lock = threading.Lock()

    def answer_when_all_arrived(request: Any) -> SinkResponse:
        with lock:
            attempts.append(request.header("X-Nim-Delivery-Attempt"))
            arrived = len(attempts)
        if arrived > 2:  # 2 first lanes until a delivery, then every thread
            together.wait()
        return handler(request)

    sink.handler = answer_when_all_arrived
    webhook_destination(api, sink.url)
    pipeline.publish(*(click() for _ in range(18)))
    while pipeline.poll("FanOutFunction"):  # every job queued first: the dispatcher takes the 18 in one batch
        pass
    pipeline.run()

    assert not together.broken and attempts == ["1"] * 18  # the Lambda time of a batch is mostly this wait
