"""A destination's delivery log spread over several partitions (design §3, docs/cost.md "Scale"), read back through
the API as one log: newest first, full pages, one cursor that continues every partition, filters applied."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.ids import live_delivery_id
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.deliveries import LOG_SHARDS, delivery_pk, log_shard_pks
from tests.aws_usage import AwsMeter
from tests.conftest import ApiClient
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkRequest, SinkResponse

BASE = "/api/integrations/destinations"
EVENTS = 30
REFUSED_EVERY = 3  # the receiver refuses every 3rd event: its deliveries are dead-lettered at once (HTTP 400)


@pytest.fixture
def destination(api: ApiClient, pipeline: Pipeline) -> Iterator[dict[str, Any]]:
    """A webhook destination with two actions that received EVENTS live clicks, one second apart (so their delivery
    ids sort by time), every REFUSED_EVERY-th refused: 2 x EVENTS deliveries, a third of them dead-lettered."""
    refused: set[str] = set()

    def refusing_some(request: SinkRequest) -> SinkResponse:
        return SinkResponse(400, {"error": "refused"}) if json.loads(request.body)["id"] in refused else SinkResponse()

    with Sink(refusing_some) as sink:
        body = {
            "name": "Busy webhook",
            "type": "generic_http",
            "credentials": {"url": f"{sink.url}/hook", "signing_secret": "whsec_shards_0123456789abcdef"},
            "actions": [
                {"name": "First", "action_type": "send_webhook"},
                {"name": "Second", "action_type": "send_webhook"},
            ],
        }
        response = api.post(BASE, body)
        assert response.status == 201, response.text
        created: dict[str, Any] = response.json()["destination"]
        start = datetime.now(UTC) - timedelta(hours=1)
        events = []
        for index in range(EVENTS):
            event = sample_event(
                "link.clicked", workspace_id="ws_dev", organization_id="org_dev", now=start + timedelta(seconds=index)
            )
            if index % REFUSED_EVERY == 0:
                refused.add(event["id"])
            events.append(event)
        pipeline.publish(*events)
        pipeline.run()
        yield created


def pages(api: ApiClient, path: str, key: str, limit: int, **query: str) -> list[list[dict[str, Any]]]:
    """Every page of a list route, following next_cursor to the end."""
    found: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        parameters = "&".join(f"{name}={value}" for name, value in {**query, "limit": str(limit)}.items())
        response = api.get(f"{path}?{parameters}" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status == 200, response.text
        body = response.json()
        found.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) <= 2 * EVENTS, "the cursor never ends"


def delivery_partitions(aws: LocalStack, destination_id: str) -> Counter[str]:
    """Partition key -> how many of the destination's delivery summaries it holds, read straight from the table."""
    table = aws.tables["DestinationsTable"]
    dynamodb = boto3.client("dynamodb")
    held: Counter[str] = Counter()
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**request)
        for item in page["Items"]:
            if f"#DEST#{destination_id}" in item["PK"]["S"] and item["SK"]["S"].startswith("DLV#"):
                held[item["PK"]["S"]] += 1
        if "LastEvaluatedKey" not in page:
            return held
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_one_destinations_log_spans_many_partitions_and_reads_newest_first_in_full_pages(
    aws: LocalStack, api: ApiClient, destination: dict[str, Any]
) -> None:
    path = f"{BASE}/{destination['id']}/deliveries"
    (everything,) = pages(api, path, "deliveries", limit=100)

    paged = pages(api, path, "deliveries", limit=7)

    held = delivery_partitions(aws, destination["id"])
    assert sum(held.values()) == len(everything) == 2 * EVENTS
    # 60 deliveries over 16 or more shards: most shards get some, none more than a sixth.
    assert len(held) >= 10 and max(held.values()) <= 2 * EVENTS // 6, held
    ids = [delivery["id"] for delivery in everything]
    assert ids == sorted(ids, reverse=True), "newest first: delivery ids are time-ordered"
    assert [delivery["id"] for page in paged for delivery in page] == ids, "the cursor continues every partition"
    assert [len(page) for page in paged[:-1]] == [7] * (len(paged) - 1), "every page but the last is full"
    assert 1 <= len(paged[-1]) <= 7


def test_filtered_pages_are_full_and_hold_only_what_the_filter_lets_through(
    api: ApiClient, destination: dict[str, Any]
) -> None:
    path = f"{BASE}/{destination['id']}/deliveries"
    (everything,) = pages(api, path, "deliveries", limit=100)
    second_action = destination["actions"][1]["id"]
    expected = {
        "status": [d["id"] for d in everything if d["status"] == "dead_lettered"],
        "action": [d["id"] for d in everything if d["action_id"] == second_action],
    }

    for limit in (1, 6, 100):
        by_status = pages(api, path, "deliveries", limit=limit, status="dead_lettered")
        by_action = pages(api, path, "deliveries", limit=limit, action_id=second_action)

        for name, paged in (("status", by_status), ("action", by_action)):
            assert [d["id"] for page in paged for d in page] == expected[name], (name, limit)
            assert all(len(page) == limit for page in paged[:-1]), (name, limit, [len(page) for page in paged])
    assert len(expected["status"]) == 2 * EVENTS // REFUSED_EVERY


def test_dead_letters_read_newest_first_across_partitions_and_replay_by_id(
    api: ApiClient, destination: dict[str, Any]
) -> None:
    path = f"{BASE}/{destination['id']}/dead-letters"
    paged = pages(api, path, "dead_letters", limit=3)
    letters = [letter["id"] for page in paged for letter in page]

    assert len(letters) == 2 * EVENTS // REFUSED_EVERY
    assert letters == sorted(letters, reverse=True)
    assert all(len(page) == 3 for page in paged[:-1])
    detail = api.get(f"{BASE}/{destination['id']}/deliveries/{letters[0]}")
    assert detail.status == 200 and detail.json()["delivery"]["status"] == "dead_lettered", detail.text
    replayed = api.post(f"{path}/replay", {"ids": letters[:2]})
    assert replayed.status == 202, replayed.text
    remaining = [letter["id"] for page in pages(api, path, "dead_letters", limit=100) for letter in page]
    assert remaining == letters[2:]


# DynamoDB's per-partition limits (docs/cost.md, "Scale").
PARTITION_WRITE_UNITS_PER_SECOND = 1000
PARTITION_READ_UNITS_PER_SECOND = 3000
HOT_DELIVERIES_PER_SECOND = 2000


def test_one_destination_at_2000_deliveries_a_second_stays_under_every_partitions_limits(
    aws: LocalStack, api: ApiClient, pipeline: Pipeline
) -> None:
    """The units each partition takes per delivery, metered from the calls the pipeline really makes, times 2,000
    deliveries a second; the log's shards each take their busiest share of deliveries (ids spread by hash)."""
    with Sink(lambda _: SinkResponse()) as sink, AwsMeter().installed() as meter:
        runtime.reset()  # the project's clients again, metered
        body = {
            "name": "Hot webhook",
            "type": "generic_http",
            "credentials": {"url": f"{sink.url}/hook", "signing_secret": "whsec_hot_0123456789abcdef"},
            "actions": [{"name": "All", "action_type": "send_webhook"}],
        }
        response = api.post(BASE, body)
        assert response.status == 201, response.text
        destination = response.json()["destination"]
        meter.reset()
        events = [sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev") for _ in range(40)]
        pipeline.publish(*events)
        pipeline.run()

    shards = set(log_shard_pks("ws_dev", destination["id"]))
    units: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for call in meter.calls:
        for pk, (read, write) in call.partitions.items():
            units["log shards" if pk in shards else pk][0] += read
            units["log shards" if pk in shards else pk][1] += write
    per_second = {pk: (HOT_DELIVERIES_PER_SECOND * r / len(events), HOT_DELIVERIES_PER_SECOND * w / len(events))
                  for pk, (r, w) in units.items()}  # fmt: skip
    # The busiest shard's share of 100,000 live deliveries of one action.
    action_id = destination["actions"][0]["id"]
    spread = Counter(
        delivery_pk("ws_dev", destination["id"], live_delivery_id(str(uuid.uuid4()), action_id, 1_796_000_000_000))
        for _ in range(100_000)
    )
    busiest_share = max(spread.values()) / 100_000
    log_reads, log_writes = per_second.pop("log shards")

    assert len(spread) == LOG_SHARDS and busiest_share < 1.1 / LOG_SHARDS
    assert log_writes * busiest_share <= PARTITION_WRITE_UNITS_PER_SECOND, (log_writes, busiest_share)
    assert log_reads * busiest_share <= PARTITION_READ_UNITS_PER_SECOND
    for pk, (reads, writes) in per_second.items():
        assert writes <= PARTITION_WRITE_UNITS_PER_SECOND and reads <= PARTITION_READ_UNITS_PER_SECOND, pk
