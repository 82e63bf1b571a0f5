"""Parked events: what lands in the LiveEvents DLQ (invalid events, events fan-out kept failing on) becomes
visible per workspace with its reason and recoverable, on moto in-process with the real pipeline."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.service.parked_events import MAX_KEPT_BODY_BYTES, DeadLetteredEvent
from nimriz_destinations.storage.parked_events import OPERATORS_PK
from tests.conftest import ApiClient
from tests.faults import Fault, FaultInjector
from tests.integration.test_api_keys import LogLines, log_lines
from tests.integration.test_delivery_pipeline import click, receiver, webhook_destination
from tests.local.pollers import poll_once
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.server import Sink

__all__ = ["log_lines", "receiver"]  # fixtures, shared with the API key and delivery pipeline tests

PARKED = "/api/integrations/parked-events"
FAN_OUT_ATTEMPTS = 5  # LiveEventsQueue's maxReceiveCount in template.yaml


@pytest.fixture
def pipeline(aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("CONFIG_CACHE_SECONDS", "0")  # every fan-out reads the configs (and meets the faults)
    runtime.reset()
    return Pipeline(aws)


def park_dead_letters(pipeline: Pipeline) -> None:
    """Drive the LiveEvents DLQ consumer until the DLQ is empty, as its event source mapping would."""
    while poll_once(pipeline.sources["LiveEventsDeadLetterFunction"], wait_seconds=0):
        pass


def parked(api: ApiClient, query: str = "") -> list[dict[str, Any]]:
    response = api.get(f"{PARKED}?{query}")
    assert response.status == 200, response.text
    events: list[dict[str, Any]] = response.json()["parked_events"]
    return events


def recover(api: ApiClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = api.post(f"{PARKED}/recover", body)
    assert response.status == 202, response.text
    recovered: list[dict[str, Any]] = response.json()["recovered"]
    return recovered


def operators_partition(stack: LocalStack) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").query(
        TableName=stack.tables["DestinationsTable"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": OPERATORS_PK}},
    )["Items"]
    return items


def test_an_invalid_event_is_listed_with_its_reason_and_parked_again_after_recovering(
    api: ApiClient, other_api: ApiClient, pipeline: Pipeline
) -> None:
    teleported = click(type="link.teleported")
    pipeline.publish(teleported)
    pipeline.run()
    park_dead_letters(pipeline)

    (listed,) = parked(api)
    assert listed["event_id"] == teleported["id"] and listed["event_type"] == "link.teleported"
    assert listed["reason"].startswith("invalid_event: type: must be one of") and listed["receive_count"] == 1
    assert parked(other_api) == []

    assert recover(api, {}) == [{"id": listed["id"], "event_id": teleported["id"]}]
    assert parked(api) == []
    pipeline.run()
    park_dead_letters(pipeline)

    (again,) = parked(api)  # still invalid: parked again, for the same reason
    assert again["event_id"] == teleported["id"] and again["reason"] == listed["reason"]
    assert again["id"] != listed["id"]


def retry_failed_receives_at_once(aws: LocalStack, pipeline: Pipeline) -> None:
    """Failed receives come back at once instead of after the queue's 180 s visibility timeout."""
    pipeline.sqs.set_queue_attributes(QueueUrl=aws.queue_urls["LiveEventsQueue"], Attributes={"VisibilityTimeout": "0"})


@pytest.mark.parametrize(
    "occurred_at", ["2026-02-31T12:00:00.000Z", "2026-03-30T23:59:60.000Z", "0000-03-30T12:00:00.000Z"]
)
def test_an_event_with_an_impossible_date_is_parked_at_once_as_an_invalid_event_naming_the_field(
    api: ApiClient, aws: LocalStack, pipeline: Pipeline, receiver: tuple[Sink, Any], occurred_at: str
) -> None:
    sink, _ = receiver
    webhook_destination(api, sink.url)
    retry_failed_receives_at_once(aws, pipeline)
    event = click(occurred_at=occurred_at)
    pipeline.publish(event)
    pipeline.run()
    park_dead_letters(pipeline)

    (listed,) = parked(api)
    assert listed["event_id"] == event["id"] and listed["receive_count"] == 1  # never retried
    assert listed["reason"].startswith("invalid_event: occurred_at: must be a real date and time")
    assert sink.requests == []


def test_a_body_nested_too_deeply_to_decode_is_parked_at_once_as_an_invalid_event(
    aws: LocalStack, pipeline: Pipeline
) -> None:
    retry_failed_receives_at_once(aws, pipeline)
    pipeline.publish("[" * 100_000)
    pipeline.run()
    park_dead_letters(pipeline)

    (kept,) = operators_partition(aws)
    parked_event = json.loads(kept["doc"]["S"])
    assert parked_event["reason"] == "invalid_event: not JSON: nested too deeply"
    assert parked_event["receive_count"] == 1


def test_a_fan_out_failure_is_logged_at_error_level_with_the_event_id_and_never_the_body(
    api: ApiClient, aws: LocalStack, pipeline: Pipeline, faults: FaultInjector, log_lines: LogLines
) -> None:
    webhook_destination(api, "https://hooks.example.com/nimriz")
    faults.fail(
        "dynamodb", "Query", where=lambda params: params["ExpressionAttributeValues"][":pk"]["S"] == "WS#ws_dev"
    )
    event = click()
    pipeline.publish(event)
    log_lines.read()

    assert pipeline.poll("FanOutFunction") == 1

    lines = log_lines.read()
    errors = [line for line in lines if line["level"] == "ERROR" and line.get("event_id") == event["id"]]
    assert len(errors) == 1 and "Traceback" in errors[0]["exception"]
    assert event["visitor"]["visitor_hash"] not in json.dumps(lines)


def test_an_event_naming_no_workspace_is_kept_for_operators_only(
    api: ApiClient, aws: LocalStack, pipeline: Pipeline
) -> None:
    pipeline.publish("{not json", json.dumps({"id": "e1", "type": "link.clicked", "workspace_id": 42}))
    pipeline.run()
    park_dead_letters(pipeline)

    kept = operators_partition(aws)
    reasons = sorted(json.loads(item["doc"]["S"])["reason"] for item in kept)
    assert len(kept) == 2 and reasons[1].startswith("invalid_event: not JSON")
    assert {item["body"]["S"] for item in kept} >= {"{not json"}
    assert parked(api) == []


def test_an_event_fan_out_kept_failing_on_is_parked_with_its_receive_count_and_recovered_exactly_once(
    api: ApiClient,
    other_api: ApiClient,
    aws: LocalStack,
    pipeline: Pipeline,
    faults: FaultInjector,
    receiver: tuple[Sink, Any],
) -> None:
    sink, handler = receiver
    webhook_destination(api, sink.url)
    retry_failed_receives_at_once(aws, pipeline)
    config_outage = faults.fail(
        "dynamodb", "Query", where=lambda params: params["ExpressionAttributeValues"][":pk"]["S"] == "WS#ws_dev"
    )
    event = click()
    pipeline.publish(event)
    pipeline.run()
    park_dead_letters(pipeline)

    assert sink.requests == []
    assert faults.injected["dynamodb.Query"] >= FAN_OUT_ATTEMPTS
    (listed,) = parked(api)
    assert listed["event_id"] == event["id"] and listed["event_type"] == "link.clicked"
    # SQS carries the receive count over to the DLQ; the consumer's own receive is the last one.
    assert listed["receive_count"] == FAN_OUT_ATTEMPTS + 1
    assert listed["reason"] == f"fan-out failed {FAN_OUT_ATTEMPTS} times"
    assert parked(other_api) == []
    assert other_api.post(f"{PARKED}/recover", {"ids": [listed["id"]]}).status == 422

    faults.remove(config_outage)
    assert recover(api, {"ids": [listed["id"]]}) == [{"id": listed["id"], "event_id": event["id"]}]
    pipeline.run()
    park_dead_letters(pipeline)

    (delivered,) = handler.verified
    assert delivered.event_id == event["id"] and len(sink.requests) == 1
    assert parked(api) == []
    assert api.post(f"{PARKED}/recover", {"ids": [listed["id"]]}).status == 422  # no longer parked


def test_parked_events_page_newest_first_within_the_workspace(
    api: ApiClient, other_api: ApiClient, pipeline: Pipeline
) -> None:
    older, newer = click(type="link.teleported"), click(type="link.vanished")
    pipeline.publish(older)
    pipeline.run()
    pipeline.publish(newer)
    pipeline.run()
    park_dead_letters(pipeline)

    page = api.get(f"{PARKED}?limit=1").json()
    assert [e["event_id"] for e in page["parked_events"]] == [newer["id"]]
    rest = parked(api, f"limit=1&cursor={page['next_cursor']}")
    assert [e["event_id"] for e in rest] == [older["id"]]
    assert other_api.get(f"{PARKED}?cursor={page['next_cursor']}").status == 400


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"ids": []}, "ids"),
        ({"ids": ["not-a-uuid"]}, "ids[0]"),
        ({"ids": ["0193a1b2-0000-7000-8000-000000000000"]}, "ids[0]"),  # well-formed, not parked
        ({"ids": ["0193a1b2-0000-7000-8000-000000000000"] * 501}, "ids"),
        ({"event_ids": []}, "event_ids"),
    ],
)
def test_recover_rejects_ids_it_cannot_recover_with_422(
    api: ApiClient, aws: LocalStack, body: dict[str, Any], path: str
) -> None:
    response = api.post(f"{PARKED}/recover", body)
    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert path in [detail["path"] for detail in error["details"]]


def park_directly(body: str, message_id: str) -> None:
    """What the consumer hands the service for one LiveEvents DLQ message that fan-out had rejected."""
    runtime.parked_event_service().park(
        DeadLetteredEvent(
            message_id=message_id, body=body, receive_count=1, sent_millis=int(time.time() * 1000),
            invalid_reason="type: must be one of [...]", source_message_id=None,
        )
    )  # fmt: skip


def test_an_event_too_large_to_keep_is_listed_but_cannot_be_recovered(api: ApiClient, aws: LocalStack) -> None:
    huge = json.dumps({**click(), "padding": "x" * MAX_KEPT_BODY_BYTES})
    park_directly(huge, "m-huge")

    (listed,) = parked(api)
    assert "too large to keep" in listed["reason"]
    response = api.post(f"{PARKED}/recover", {"ids": [listed["id"]]})
    assert response.status == 422 and "cannot be recovered" in response.text
    assert recover(api, {}) == []
    assert [e["id"] for e in parked(api)] == [listed["id"]]


def test_events_sqs_did_not_take_stay_parked(api: ApiClient, aws: LocalStack, faults: FaultInjector) -> None:
    park_directly(json.dumps(click()), "m-1")
    faults.fail("sqs", "SendMessageBatch", fault=Fault.SERVER_ERROR)

    assert api.post(f"{PARKED}/recover", {}).status == 500
    assert len(parked(api)) == 1
