"""The AWS stand-in's speed-ups (tests/local/moto_speed.py) answer exactly as moto does without them."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.serialize import BaseJSONSerializer
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from tests.local import moto_speed
from tests.local.template import LocalStack

EVERY_TYPE: dict[str, Any] = {
    "PK": {"S": "SPEED#1"},
    "SK": {"S": "ITEM"},
    "text": {"S": ""},
    "number": {"N": "-12.5"},
    "payload": {"B": b"\x00\xffbytes"},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "binaries": {"BS": [b"x", b"\x01"]},
    "nothing": {"NULL": True},
    "flag": {"BOOL": False},
    "doc": {"M": {"a": {"S": "x"}, "nested": {"M": {"b": {"L": [{"N": "1"}, {"BOOL": True}]}}}, "blob": {"B": b"y"}}},
    "log": {"L": [{"S": "first"}, {"M": {"x": {"S": "second"}}}, {"L": []}, {"M": {}}]},
}


def _raw_answers(client: Any) -> list[bytes]:
    bodies: list[bytes] = []
    client.meta.events.register(
        "after-call.dynamodb.*", lambda http_response, **_: bodies.append(http_response.content)
    )
    return bodies


def _read_everything(client: Any, table: str) -> None:
    key = {"PK": EVERY_TYPE["PK"], "SK": EVERY_TYPE["SK"]}
    client.get_item(TableName=table, Key=key)
    client.query(
        TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": EVERY_TYPE["PK"]}
    )
    client.batch_get_item(RequestItems={table: {"Keys": [key]}})
    client.get_item(TableName=table, Key=key, ProjectionExpression="doc.nested, log[1].x, payload, absent")
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #n = :n",
        ExpressionAttributeNames={"#n": "number"},
        ExpressionAttributeValues={":n": {"N": "3"}},
        ReturnValues="ALL_NEW",
    )


def test_dynamodb_answers_are_the_bytes_moto_writes(aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    client: Any = boto3.client("dynamodb")
    table = aws.tables["DestinationsTable"]
    client.put_item(TableName=table, Item=EVERY_TYPE)
    fast = _raw_answers(client)
    _read_everything(client, table)

    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", moto_speed._moto_serialize_structure)
    monkeypatch.setattr(Item, "project", moto_speed._moto_project)
    moto_client: Any = boto3.client("dynamodb")
    moto_client.put_item(TableName=table, Item=EVERY_TYPE)  # as it was before the update
    moto_own = _raw_answers(moto_client)
    _read_everything(moto_client, table)

    assert fast == moto_own
    assert base64.b64encode(b"\x00\xffbytes") in fast[0]  # binary values went through moto's own writing


@pytest.mark.parametrize(
    "projection",
    ["doc", "doc.nested.b", "log[1]", "log[1].x", "log[0], doc.a, flag", "absent, log[9]", "doc.nested, doc.a"],
)
def test_a_projection_holds_what_moto_projects(aws: LocalStack, projection: str) -> None:
    client: Any = boto3.client("dynamodb")
    table = aws.tables["DestinationsTable"]
    client.put_item(TableName=table, Item=EVERY_TYPE)
    key = {"PK": EVERY_TYPE["PK"], "SK": EVERY_TYPE["SK"]}
    fast = client.get_item(TableName=table, Key=key, ProjectionExpression=projection).get("Item")

    Item.project = moto_speed._moto_project  # type: ignore[method-assign]
    try:
        moto_own = client.get_item(TableName=table, Key=key, ProjectionExpression=projection).get("Item")
    finally:
        Item.project = moto_speed._project  # type: ignore[method-assign]
    assert fast == moto_own


def test_a_remembered_update_expression_applies_to_each_item_afresh(aws: LocalStack) -> None:
    client: Any = boto3.client("dynamodb")
    table = aws.tables["DestinationsTable"]
    update = {
        "TableName": table,
        "UpdateExpression": "SET #log = list_append(if_not_exists(#log, :empty), :entry), n = if_not_exists(n, :one)",
        "ExpressionAttributeNames": {"#log": "log"},
        "ExpressionAttributeValues": {":empty": {"L": []}, ":entry": {"L": [{"S": "e"}]}, ":one": {"N": "1"}},
        "ReturnValues": "ALL_NEW",
    }
    first = client.update_item(Key={"PK": {"S": "SPEED#a"}, "SK": {"S": "X"}}, **update)["Attributes"]
    again = client.update_item(Key={"PK": {"S": "SPEED#a"}, "SK": {"S": "X"}}, **update)["Attributes"]
    other = client.update_item(Key={"PK": {"S": "SPEED#b"}, "SK": {"S": "X"}}, **update)["Attributes"]

    assert first["log"] == other["log"] == {"L": [{"S": "e"}]}
    assert again["log"] == {"L": [{"S": "e"}, {"S": "e"}]}
    for _ in range(2):  # a refused expression is refused every time, not remembered as parsed
        with pytest.raises(client.exceptions.ClientError, match="ValidationException"):
            client.update_item(Key={"PK": {"S": "SPEED#a"}, "SK": {"S": "X"}}, **{**update, "UpdateExpression": "SET"})


def test_queue_counts_and_receives_see_visibility_and_delays_at_one_instant(aws: LocalStack) -> None:
    sqs: Any = boto3.client("sqs")
    queue = aws.queue_urls["DeliveriesQueue"]
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": f"now-{n}"} for n in range(4)])
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=600)
    taken = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=600)["Messages"]

    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
        counts["ApproximateNumberOfMessagesDelayed"],
    ) == ("3", "1", "1")
    rest = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in taken + rest) == ["now-0", "now-1", "now-2", "now-3"]


def ticking_clock(first_millis: float) -> Callable[[], float]:
    """A clock a millisecond later at each reading."""
    readings = itertools.count()
    return lambda: first_millis + next(readings)


@pytest.mark.parametrize(
    "names",
    [
        ["All"],
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    ],
)
def test_one_queue_count_request_counts_a_message_whose_timeout_runs_out_meanwhile_exactly_once(
    aws: LocalStack, monkeypatch: pytest.MonkeyPatch, names: list[str]
) -> None:
    """A received message becomes visible while its queue's counts are computed: it is counted once, as invisible or as
    visible, never in neither (which made a test waiting for an empty queue stop while a retry was due)."""
    from moto.sqs import models as sqs_models

    sqs: Any = boto3.client("sqs")
    queue = aws.queue_urls["DeliveriesQueue"]
    sqs.send_message(QueueUrl=queue, MessageBody="retry")
    sqs.receive_message(QueueUrl=queue, VisibilityTimeout=30)
    backend = sqs_models.sqs_backends[DEFAULT_ACCOUNT_ID][boto3.session.Session().region_name]
    (message,) = backend.get_queue(queue.rsplit("/", 1)[1])._messages

    for start in range(-12, 2):  # the timeout runs out at the first, second, ... reading of the clock
        monkeypatch.setattr(moto_speed, "_clock_millis", ticking_clock(message.visible_at + start - 0.5))
        counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
        counted = int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"])
        assert (counted, counts["ApproximateNumberOfMessagesDelayed"]) == (1, "0"), start


def test_an_update_expression_passed_before_is_still_checked_against_other_names_and_values(aws: LocalStack) -> None:
    client: Any = boto3.client("dynamodb")
    table = aws.tables["DestinationsTable"]
    key = {"PK": {"S": "SPEED#c"}, "SK": {"S": "X"}}
    update = {"TableName": table, "Key": key, "UpdateExpression": "SET #a = :v, #b = :v"}
    client.update_item(
        **update, ExpressionAttributeNames={"#a": "x", "#b": "y"}, ExpressionAttributeValues={":v": {"N": "1"}}
    )

    with pytest.raises(client.exceptions.ClientError, match="Cannot update attribute PK"):  # a key attribute
        client.update_item(
            **update, ExpressionAttributeNames={"#a": "PK", "#b": "y"}, ExpressionAttributeValues={":v": {"S": "1"}}
        )
    with pytest.raises(client.exceptions.ClientError, match="Two document paths overlap"):
        client.update_item(
            **update, ExpressionAttributeNames={"#a": "x", "#b": "x"}, ExpressionAttributeValues={":v": {"N": "1"}}
        )
    adding = {"TableName": table, "Key": key, "UpdateExpression": "SET n = if_not_exists(n, :zero) + :v"}
    client.update_item(**adding, ExpressionAttributeValues={":zero": {"N": "0"}, ":v": {"N": "1"}})
    with pytest.raises(client.exceptions.ClientError, match="Incorrect operand type"):  # checked against the values
        client.update_item(**adding, ExpressionAttributeValues={":zero": {"N": "0"}, ":v": {"S": "1"}})
    for _ in range(2):  # refused every time, never remembered as passed
        with pytest.raises(client.exceptions.ClientError, match='The "SET" section can only be used once'):
            client.update_item(
                **{**update, "UpdateExpression": "SET #a = :v SET #b = :v"},
                ExpressionAttributeNames={"#a": "x", "#b": "y"},
                ExpressionAttributeValues={":v": {"N": "1"}},
            )


def _index_queries(client: Any, table: str) -> list[Any]:
    """Pages of index queries: every key condition shape, both directions, a filter, and a page's continuation."""
    answers = []
    for query in (
        {"KeyConditionExpression": "event_key = :k", "ExpressionAttributeValues": {":k": {"S": "dest#e1"}}},
        {
            "KeyConditionExpression": "event_key = :k AND SK BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":k": {"S": "dest#e1"}, ":a": {"S": "DLV#02"}, ":b": {"S": "DLV#05"}},
        },
        {
            "KeyConditionExpression": "event_key = :k AND begins_with(SK, :p)",
            "ExpressionAttributeValues": {
                ":k": {"S": "dest#e2"},
                ":p": {"S": "DLV#0"},
                ":delivered": {"S": "delivered"},
            },
            "FilterExpression": "#s <> :delivered",
            "ExpressionAttributeNames": {"#s": "status"},
            "ScanIndexForward": False,
        },
        {"KeyConditionExpression": "event_key = :k", "ExpressionAttributeValues": {":k": {"S": "dest#none"}}},
    ):
        pages, start = [], None
        while True:
            page = client.query(
                TableName=table, IndexName="DeliveriesByEvent", Limit=2, **query,
                **({"ExclusiveStartKey": start} if start else {}),
            )  # fmt: skip
            pages.append((page["Items"], page.get("LastEvaluatedKey")))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        answers.append(pages)
    return answers


def test_an_index_query_reads_only_its_partition_and_answers_as_moto(aws: LocalStack) -> None:
    client: Any = boto3.client("dynamodb")
    table = aws.tables["DestinationsTable"]
    for number in range(12):  # two events' deliveries over three table partitions, and items the index leaves out
        item = {"PK": {"S": f"SPEED#{number % 3}"}, "SK": {"S": f"DLV#{number:02d}"}, "status": {"S": "delivered"}}
        if number % 4:
            item["event_key"] = {"S": f"dest#e{number % 2 + 1}"}
        if number % 5 == 0:
            item["status"] = {"S": "failed"}
        client.put_item(TableName=table, Item=item)

    fast = _index_queries(client, table)
    Table.query = moto_speed._moto_query  # type: ignore[method-assign]
    try:
        moto_own = _index_queries(client, table)
    finally:
        Table.query = moto_speed._query_candidates  # type: ignore[method-assign]

    assert fast == moto_own
    first_event = [item["SK"]["S"] for items, _ in fast[0] for item in items]
    assert first_event == ["DLV#02", "DLV#06", "DLV#10"]  # from all three table partitions, in the index's order
