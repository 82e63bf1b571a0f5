"""The AWS meter behind docs/cost.md's figures (tests/aws_usage.py) bills calls as DynamoDB and SQS document it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.aws_usage import AwsMeter, Usage
from tests.local.template import LocalStack


def item(sk: str, size: int) -> dict[str, Any]:
    """An item of exactly `size` bytes as DynamoDB counts them (attribute names included)."""
    base = {"PK": {"S": "METER"}, "SK": {"S": sk}}
    used = sum(len(name) + len(value["S"]) for name, value in base.items()) + len("pad")
    return {**base, "pad": {"S": "x" * (size - used)}}


def only_call(meter: AwsMeter) -> Usage:
    (call,) = meter.calls
    meter.reset()
    return call


def test_dynamodb_writes_cost_a_unit_per_kb_of_the_larger_image_and_double_in_a_transaction(aws: LocalStack) -> None:
    table = aws.tables["DestinationsTable"]
    with AwsMeter().installed() as meter:
        dynamodb: Any = boto3.client("dynamodb")
        dynamodb.put_item(TableName=table, Item=item("a", 1024))
        assert only_call(meter).write_units == 1
        dynamodb.put_item(TableName=table, Item=item("a", 1025))
        assert only_call(meter).write_units == 2
        # Shrinking it costs what the larger image, the one before, costs.
        dynamodb.put_item(TableName=table, Item=item("a", 100))
        assert only_call(meter).write_units == 2
        refused = {"ConditionExpression": "attribute_not_exists(PK)"}
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.put_item(TableName=table, Item=item("a", 100), **refused)
        assert only_call(meter).write_units == 1  # a failed condition is still a write
        dynamodb.transact_write_items(
            TransactItems=[{"Put": {"TableName": table, "Item": item(sk, 1500)}} for sk in ("b", "c")]
        )
        transaction = only_call(meter)
    assert transaction.write_units == 8  # two items of 2 KB, at double
    assert transaction.partitions == {"METER": (0.0, 8.0)}


def test_dynamodb_writes_also_cost_each_global_secondary_index_entry_they_add_change_or_remove(aws: LocalStack) -> None:
    # DeliveriesByStatus: key status_key (+ SK), projecting status, action_id and event_type; sparse.
    table = aws.tables["DestinationsTable"]
    key = {"PK": {"S": "METER"}, "SK": {"S": "DLV#1"}}
    with AwsMeter().installed() as meter:
        dynamodb: Any = boto3.client("dynamodb")
        dynamodb.put_item(TableName=table, Item={**key, "pad": {"S": "x" * 2000}})
        assert only_call(meter).write_units == 2  # in no index: the item alone
        dynamodb.put_item(TableName=table, Item={**key, "status_key": {"S": "s#failed"}, "status": {"S": "failed"}})
        added = only_call(meter)
        assert added.write_units == 2 + 1  # the larger image (before) and one small index entry
        assert added.partitions["index DeliveriesByStatus s#failed"] == (0.0, 1.0)  # the index's own partition

        def update(expression: str, values: dict[str, Any] | None = None) -> Usage:
            extra = {"ExpressionAttributeValues": values} if values else {}
            dynamodb.update_item(TableName=table, Key=key, UpdateExpression=expression, **extra)
            return only_call(meter)

        assert update("SET unprojected = :v", {":v": {"S": "not in the index"}}).write_units == 1
        projected = update("SET event_type = :v", {":v": {"S": "link.clicked"}})
        assert projected.write_units == 1 + 1  # a projected attribute changed: the entry is written again
        moved = update("SET status_key = :v", {":v": {"S": "s#dead_lettered"}})
        assert moved.write_units == 1 + 2  # a key changed: the old entry deleted, the new one put
        removed = update("REMOVE status_key")
        assert removed.write_units == 1 + 1


def test_dynamodb_reads_cost_a_unit_per_4_kb_of_the_whole_item_half_when_eventually_consistent(
    aws: LocalStack,
) -> None:
    table = aws.tables["DestinationsTable"]
    boto3.client("dynamodb").put_item(TableName=table, Item=item("big", 5000))
    with AwsMeter().installed() as meter:
        dynamodb: Any = boto3.client("dynamodb")
        key = {"PK": {"S": "METER"}, "SK": {"S": "big"}}
        dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True, ProjectionExpression="PK")
        assert only_call(meter).read_units == 2  # the whole 5,000 bytes, whatever the projection returns
        dynamodb.get_item(TableName=table, Key=key)
        assert only_call(meter).read_units == 1
        dynamodb.get_item(TableName=table, Key={"PK": {"S": "METER"}, "SK": {"S": "none"}})
        assert only_call(meter).read_units == 0.5  # an item not found costs the minimum


def test_sqs_calls_cost_a_request_per_64_kb_of_payload(aws: LocalStack) -> None:
    queue = aws.queue_urls["DeliveriesQueue"]
    with AwsMeter().installed() as meter:
        sqs: Any = boto3.client("sqs")
        sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "MessageBody": "x" * 30_000} for i in range(3)])
        assert only_call(meter).requests == 2  # 90,000 bytes
        sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        received = only_call(meter)
    assert (received.requests, received.messages) == (2, 3)
