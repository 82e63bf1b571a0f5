"""Fan-out queues a batch's delivery jobs together (design §2): ten to a SendMessageBatch whatever event they came
from, so the jobs of events posted together reach the Deliveries queue together, in as few SQS requests as fit."""

from __future__ import annotations

import json
import math
from typing import Any

from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.faults import Fault, FaultInjector
from tests.integration.test_parked_events import retry_failed_receives_at_once
from tests.local.template import LocalStack
from tests.pipeline import Pipeline

BASE = "/api/integrations/destinations"
EVENTS = 10  # one LiveEvents batch (the template's BatchSize)


def two_webhook_actions(api: ApiClient) -> None:
    body = {
        "name": "Two actions",
        "type": "generic_http",
        "credentials": {"url": "https://hooks.example.com/nimriz", "signing_secret": "whsec_fanout_0123456789abcd"},
        "actions": [
            {"name": "First", "action_type": "send_webhook"},
            {"name": "Second", "action_type": "send_webhook"},
        ],
    }
    assert api.post(BASE, body).status == 201


def queued_jobs(pipeline: Pipeline) -> list[dict[str, Any]]:
    jobs = []
    while messages := pipeline.sqs.receive_message(
        QueueUrl=pipeline.stack.queue_urls["DeliveriesQueue"], MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        jobs += [json.loads(message["Body"]) for message in messages]
    return jobs


def clicks(count: int) -> list[dict[str, Any]]:
    return [sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev") for _ in range(count)]


def test_a_batch_of_events_queues_its_jobs_ten_to_a_call_whatever_event_they_came_from(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector
) -> None:
    two_webhook_actions(api)
    events = clicks(EVENTS)
    pipeline.publish(*events)

    assert pipeline.poll("FanOutFunction") == EVENTS

    jobs = queued_jobs(pipeline)
    assert sorted(job["event"]["id"] for job in jobs) == sorted(2 * [event["id"] for event in events])
    assert faults.attempts["sqs.SendMessageBatch"] == math.ceil(2 * EVENTS / 10)


def test_events_whose_jobs_sqs_keeps_refusing_come_back_and_are_queued_once_sqs_accepts(
    api: ApiClient, aws: LocalStack, pipeline: Pipeline, faults: FaultInjector
) -> None:
    two_webhook_actions(api)
    retry_failed_receives_at_once(aws, pipeline)
    events = clicks(3)
    pipeline.publish(*events)
    outage = faults.fail("sqs", "SendMessageBatch", fault=Fault.SERVER_ERROR)

    assert pipeline.poll("FanOutFunction") == 3

    assert queued_jobs(pipeline) == []
    faults.remove(outage)
    while pipeline.poll("FanOutFunction"):
        pass
    jobs = queued_jobs(pipeline)
    assert sorted(job["event"]["id"] for job in jobs) == sorted(2 * [event["id"] for event in events])
