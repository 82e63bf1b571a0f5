"""A resume's release in strict occurred_at order (design §2.2, "Order", issue 20 item 1): the released deliveries'
FIFO queue read by concurrent dispatchers, a retry moved to the Deliveries queue so it holds nothing back, and a FIFO
job handed back untried taking its destination's later jobs back with it."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.storage.delivery_states import DeliveryStates
from tests.conftest import ApiClient
from tests.integration.test_delivery_pipeline import BASE, receiver, webhook_destination
from tests.integration.test_pause_and_recover import clicks_at
from tests.local.lambdas import invoke
from tests.local.pollers import EventSource, receive_batch, sqs_event
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkResponse

__all__ = ["receiver"]  # the fixture, shared with the pipeline tests

DISPATCHERS = 4


def held_then_resumed(api: ApiClient, pipeline: Pipeline, url: str, minutes: list[int]) -> tuple[str, list[str]]:
    """A webhook destination paused, the clicks at `minutes` held, then resumed; its id and the events' ids in
    occurred_at order."""
    destination = webhook_destination(api, url)
    api.post(f"{BASE}/{destination['id']}/pause")
    events = clicks_at(minutes)
    pipeline.publish(*events)
    pipeline.run()
    assert api.post(f"{BASE}/{destination['id']}/resume").status == 200
    in_order = [event["id"] for _, event in sorted(zip(minutes, events, strict=True), key=lambda pair: pair[0])]
    return destination["id"], in_order


def test_a_release_of_several_pages_drained_by_concurrent_dispatchers_arrives_in_strict_occurred_at_order(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, handler = receiver
    _, in_order = held_then_resumed(api, pipeline, sink.url, random.sample(range(1000), 120))

    pipeline.drain_concurrently(lambda: len(handler.verified), 120, environments=DISPATCHERS, timeout=120)

    assert [d.event_id for d in handler.verified] == in_order
    assert {(d.reason, d.attempt) for d in handler.verified} == {("live", 1)}


def test_a_released_delivery_that_fails_is_retried_from_the_deliveries_queue_after_the_later_ones(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The retry 3 s later: the 24 later deliveries (three FIFO batches) go out first unless its backoff holds them.
    monkeypatch.setenv("RETRY_BASE_SECONDS", "3")
    runtime.reset()
    sink, handler = receiver
    _, in_order = held_then_resumed(api, pipeline, sink.url, list(range(25)))
    sink.script.append(SinkResponse(503, {"error": "busy"}))  # the oldest one's first attempt

    pipeline.run()

    assert [(d.event_id, d.attempt) for d in handler.verified] == [
        *((event_id, 1) for event_id in in_order[1:]),
        (in_order[0], 2),
    ]


def released_source(pipeline: Pipeline) -> EventSource:
    return next(s for s in pipeline.all_sources if s.queue_url.endswith("ReleasedDeliveriesQueue.fifo"))


def test_a_fifo_job_handed_back_untried_hands_back_its_destinations_later_jobs_untried_and_unrecorded(
    api: ApiClient, aws: LocalStack, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    sink, _ = receiver
    destination = webhook_destination(api, sink.url)
    pipeline.publish(*clicks_at([1, 2, 3]))
    pipeline.poll("FanOutFunction")
    sqs: Any = boto3.client("sqs")
    queued = sqs.receive_message(QueueUrl=aws.queue_urls["DeliveriesQueue"], MaxNumberOfMessages=10)["Messages"]
    jobs = sorted((json.loads(message["Body"]) for message in queued), key=lambda job: job["event"]["occurred_at"])
    source = released_source(pipeline)
    for job in jobs:  # as a release queues them
        sqs.send_message(QueueUrl=source.queue_url, MessageBody=json.dumps(job),
                         MessageGroupId=destination["id"], MessageDeduplicationId=job["delivery_id"])  # fmt: skip
    keys = [(job["workspace_id"], job["destination_id"], job["delivery_id"]) for job in jobs]
    states = DeliveryStates(aws.tables["DestinationsTable"], retention_days=30)
    states.hold(keys[0], until=time.time() + 60)  # another copy holds the oldest: it goes back untried
    messages = receive_batch(source, wait_seconds=0)
    assert [json.loads(message["Body"])["delivery_id"] for message in messages] == [key[2] for key in keys]

    response = invoke("DispatcherFunction", sqs_event(source, messages))

    assert {failure["itemIdentifier"] for failure in response["batchItemFailures"]} == {
        message["MessageId"] for message in messages
    }
    assert sink.requests == []
    found = states.read(keys)
    assert keys[1][2] not in found and keys[2][2] not in found  # no attempt, no record


def test_the_fifo_stand_in_hands_out_no_message_of_a_group_while_one_of_it_is_in_flight(
    aws: LocalStack, pipeline: Pipeline
) -> None:
    """What the dispatcher's order rests on (Lambda's FIFO event source mapping, as the local pollers drive it)."""
    sqs: Any = boto3.client("sqs")
    url = released_source(pipeline).queue_url
    for number in range(3):
        sqs.send_message(
            QueueUrl=url, MessageBody=str(number), MessageGroupId="d1", MessageDeduplicationId=f"m{number}"
        )
    sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="d2", MessageDeduplicationId="o")

    (first,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    others = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]

    assert first["Body"] == "0" and [message["Body"] for message in others] == ["other"]
    assert [message["Body"] for message in again] == ["0", "1", "2"]


def test_the_fifo_stand_in_drops_a_deduplication_id_seen_in_the_last_5_minutes_even_once_consumed(
    aws: LocalStack, pipeline: Pipeline
) -> None:
    """SQS's deduplication interval (SQS developer guide, "Using the message deduplication ID"): moto compared only
    with the messages still queued (tests/local/moto_fidelity.py)."""
    sqs: Any = boto3.client("sqs")
    url = released_source(pipeline).queue_url
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageGroupId="d1", MessageDeduplicationId="same")
    (first,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])

    sqs.send_message(QueueUrl=url, MessageBody="again", MessageGroupId="d1", MessageDeduplicationId="same")
    sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="d1", MessageDeduplicationId="other")

    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["other"]


def test_a_delivery_held_again_by_a_second_pause_is_released_by_the_second_resume_within_5_minutes(
    api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
) -> None:
    """Pause, resume, pause again before the release went out (the dispatcher holds it again), resume: the second
    release's message is a new one to SQS, not a duplicate of the first's dropped within its 5 minutes."""
    sink, handler = receiver
    destination_id, in_order = held_then_resumed(api, pipeline, sink.url, [3, 1, 2])
    assert api.post(f"{BASE}/{destination_id}/pause").status == 200
    pipeline.run()  # the first release's jobs reach the dispatcher while paused: held again
    assert handler.verified == []
    held = api.get(f"{BASE}/{destination_id}/deliveries?status=held").json()["deliveries"]
    assert len(held) == 3

    assert api.post(f"{BASE}/{destination_id}/resume").status == 200
    pipeline.run()

    assert [d.event_id for d in handler.verified] == in_order
