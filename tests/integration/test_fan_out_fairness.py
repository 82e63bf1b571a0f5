"""Fan-out shares each batch between its workspaces (design §2): they take turns, and a workspace whose events
take longer to route than its share of the batch has its remaining events deferred (returned to the queue for a
later batch, never lost) instead of delaying the other workspaces' events.

The slow workspace holds a filter saved before the cost budget (written straight to the table): the budget
(design §6) refuses it now, but fan-out must stay fair with what is already stored.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from nimriz_destinations import aws as aws_clients
from nimriz_destinations import runtime
from nimriz_destinations.delivery.fanout import FanOut
from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.factories import destination_body
from tests.integration.test_hostile_config import SLOW_PATTERNS
from tests.local.template import LocalStack
from tests.pipeline import Pipeline

BASE = "/api/integrations/destinations"
# Far above what routing an event of a workspace within its budgets takes (microseconds to milliseconds), far
# below what one event of the stored slow filter takes (about a second: 20 patterns of 30-140 ms each).
SHARE_SECONDS = "0.2"


def store_filter_bypassing_validation(
    stack: LocalStack, workspace_id: str, destination_id: str, event_filter: Any
) -> None:
    """What a destination saved before the cost budget holds: its first action's filter written to the table."""
    table = stack.tables["DestinationsTable"]
    key = {"PK": {"S": f"WS#{workspace_id}"}, "SK": {"S": f"DEST#{destination_id}"}}
    document = json.loads(aws_clients.dynamodb().get_item(TableName=table, Key=key)["Item"]["doc"]["S"])
    document["actions"][0]["event_filter"] = event_filter
    aws_clients.dynamodb().update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #doc = :doc",
        ExpressionAttributeNames={"#doc": "doc"},
        ExpressionAttributeValues={":doc": {"S": json.dumps(document)}},
    )


def live_event(workspace_id: str, organization_id: str, **utm: str) -> dict[str, Any]:
    event = sample_event("link.clicked", workspace_id=workspace_id, organization_id=organization_id)
    event["utm"].update(utm)
    return event


def queued_event_ids(pipeline: Pipeline) -> list[str]:
    """The event of every delivery job on the Deliveries queue (received, so each is counted once)."""
    found = []
    while messages := pipeline.sqs.receive_message(
        QueueUrl=pipeline.stack.queue_urls["DeliveriesQueue"], MaxNumberOfMessages=10
    ).get("Messages", []):
        found += [json.loads(message["Body"])["event"]["id"] for message in messages]
    return found


def live_events_waiting(pipeline: Pipeline) -> int:
    attributes = pipeline.sqs.get_queue_attributes(
        QueueUrl=pipeline.stack.queue_urls["LiveEventsQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def fair_pipeline(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setenv("FANOUT_WORKSPACE_SHARE_SECONDS", SHARE_SECONDS)
    runtime.reset()
    # Deferred events come back after a second instead of the template's 180 s visibility timeout.
    pipeline.sqs.set_queue_attributes(
        QueueUrl=pipeline.stack.queue_urls["LiveEventsQueue"], Attributes={"VisibilityTimeout": "1"}
    )
    return pipeline


def test_a_slow_workspace_is_deferred_while_the_other_workspace_in_its_batch_is_fanned_out_and_nothing_is_lost(
    api: ApiClient, other_api: ApiClient, aws: LocalStack, fair_pipeline: Pipeline
) -> None:
    slow = api.post(BASE, destination_body("segment")).json()["destination"]
    other_api.post(BASE, destination_body("segment"))
    # Every slow pattern fails on the campaign, then the last alternative matches: one job per event, late.
    slow_alternatives = [{"field": "utm.campaign", "operator": "matches", "value": p} for p in SLOW_PATTERNS[:20]]
    slow_filter = {"conditions": [{"any": [*slow_alternatives, {"field": "utm.campaign", "operator": "exists"}]}]}
    store_filter_bypassing_validation(aws, "ws_dev", slow["id"], slow_filter)
    slow_events = [live_event("ws_dev", "org_dev", campaign="a" * 1024) for _ in range(3)]
    quick_events = [live_event("ws_other", "org_other") for _ in range(3)]
    fair_pipeline.publish(*slow_events, *quick_events)  # one batch, the slow workspace's events first

    assert fair_pipeline.poll("FanOutFunction") == 6
    first_batch = queued_event_ids(fair_pipeline)
    # The slow workspace's first event used up its share: its others wait for a later batch, the other
    # workspace's events all went through in this one.
    assert sorted(first_batch) == sorted([slow_events[0]["id"], *(event["id"] for event in quick_events)])
    assert live_events_waiting(fair_pipeline) == 2

    deadline = time.monotonic() + 60
    later: list[str] = []
    while live_events_waiting(fair_pipeline) and time.monotonic() < deadline:
        if not fair_pipeline.poll("FanOutFunction"):
            time.sleep(0.2)  # a deferred event's visibility timeout
        later += queued_event_ids(fair_pipeline)
    assert sorted(later) == sorted(event["id"] for event in slow_events[1:])
    assert fair_pipeline.dead_lettered_events() == []  # deferred, never parked


def test_a_slow_quota_read_is_not_counted_as_the_workspaces_routing(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A workspace's share bounds what its filters cost. Reading its quotas is I/O (slow when DynamoDB throttles,
    # or on a busy machine): counted as routing, it deferred the events of a workspace whose filters cost nothing.
    api.post(BASE, destination_body("segment"))
    configs = runtime.destination_configs()
    read_quotas = configs.quotas

    def slow_quotas(workspace_id: str) -> Any:
        time.sleep(0.3)
        return read_quotas(workspace_id)

    monkeypatch.setattr(configs, "quotas", slow_quotas)
    fan_out = FanOut(
        configs, runtime.compiled_actions(), runtime.delivery_counters(), workspace_share_seconds=float(SHARE_SECONDS)
    )
    events = [live_event("ws_dev", "org_dev") for _ in range(2)]
    batch = fan_out.batch([(f"m{n}", json.dumps(event)) for n, event in enumerate(events)])

    assert [len(batch.route(f"m{n}").jobs) for n in range(2)] == [1, 1]  # neither deferred
