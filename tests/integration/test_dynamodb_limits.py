"""The DynamoDB stand-in refuses what DynamoDB refuses, on every operation: key sizes on reads and writes, item
sizes, batch and transaction sizes, and page sizes (tests/local/dynamodb_limits.py, and moto where it already
enforces a limit). Driven with a plain boto3 client against the table template.yaml declares.

Limits: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.local.template import LocalStack

# DynamoDB's messages, verbatim (no space in "of2048" is DynamoDB's own).
PARTITION_KEY_TOO_LONG = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
SORT_KEY_TOO_LONG = (
    "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of "
    "1024 bytes"
)
ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
ITEM_TO_UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"

# Key values one byte over the limits, in UTF-8 bytes: "é" is 2 bytes.
LONG_PK = "é" * 1024 + "x"
LONG_SK = "é" * 512 + "x"
Key = dict[str, Any]
Operation = Callable[[Any, str, Key], Any]


def dynamodb() -> Any:
    return boto3.client("dynamodb")


def key(pk: str = "PK#limits", sk: str = "SK#limits") -> Key:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def refusal(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def table(aws: LocalStack) -> str:
    return aws.tables["DestinationsTable"]


# Every operation that takes a key, with the key given. Reads of a key that cannot exist are refused all the same.
KEYED_OPERATIONS: dict[str, Operation] = {
    "GetItem": lambda client, table, k: client.get_item(TableName=table, Key=k),
    "DeleteItem": lambda client, table, k: client.delete_item(TableName=table, Key=k),
    "BatchGetItem": lambda client, table, k: client.batch_get_item(RequestItems={table: {"Keys": [key(), k]}}),
    "BatchWriteItem delete": lambda client, table, k: client.batch_write_item(
        RequestItems={table: [{"DeleteRequest": {"Key": k}}]}
    ),
    "Query key condition": lambda client, table, k: client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND SK = :sk",
        ExpressionAttributeValues={":pk": k["PK"], ":sk": k["SK"]},
    ),
    "Query begins_with": lambda client, table, k: client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": k["PK"], ":prefix": k["SK"]},
    ),
    "Query legacy KeyConditions": lambda client, table, k: client.query(
        TableName=table,
        KeyConditions={
            "PK": {"ComparisonOperator": "EQ", "AttributeValueList": [k["PK"]]},
            "SK": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [k["SK"]]},
        },
    ),
    "Query ExclusiveStartKey": lambda client, table, k: client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "PK#limits"}},
        ExclusiveStartKey=k,
    ),
    "Scan ExclusiveStartKey": lambda client, table, k: client.scan(TableName=table, ExclusiveStartKey=k),
    "TransactGetItems": lambda client, table, k: client.transact_get_items(
        TransactItems=[{"Get": {"TableName": table, "Key": k}}]
    ),
    "TransactWriteItems Delete": lambda client, table, k: client.transact_write_items(
        TransactItems=[{"Delete": {"TableName": table, "Key": k}}]
    ),
    "TransactWriteItems ConditionCheck": lambda client, table, k: client.transact_write_items(
        TransactItems=[
            {"ConditionCheck": {"TableName": table, "Key": k, "ConditionExpression": "attribute_not_exists(PK)"}}
        ]
    ),
}
# Where an item is stored moto refuses over-long keys itself: proven here with the rest.
STORING_OPERATIONS: dict[str, Operation] = {
    "PutItem": lambda client, table, k: client.put_item(TableName=table, Item=k),
    "UpdateItem": lambda client, table, k: client.update_item(
        TableName=table, Key=k, UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "1"}}
    ),
    "BatchWriteItem put": lambda client, table, k: client.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": k}}]}
    ),
    "TransactWriteItems Put": lambda client, table, k: client.transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": k}}]
    ),
    "TransactWriteItems Update": lambda client, table, k: client.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": k,
                    "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                }
            }
        ]
    ),
}
ALL_KEYED = {**KEYED_OPERATIONS, **STORING_OPERATIONS}


class TestKeySizes:
    @pytest.mark.parametrize("operation", ALL_KEYED.values(), ids=ALL_KEYED.keys())
    def test_a_partition_key_over_2048_bytes_is_refused(self, table: str, operation: Operation) -> None:
        assert refusal(lambda: operation(dynamodb(), table, key(pk=LONG_PK))) == (
            "ValidationException",
            PARTITION_KEY_TOO_LONG,
        )

    @pytest.mark.parametrize("operation", ALL_KEYED.values(), ids=ALL_KEYED.keys())
    def test_a_sort_key_over_1024_bytes_is_refused(self, table: str, operation: Operation) -> None:
        assert refusal(lambda: operation(dynamodb(), table, key(sk=LONG_SK))) == (
            "ValidationException",
            SORT_KEY_TOO_LONG,
        )

    @pytest.mark.parametrize("operation", ALL_KEYED.values(), ids=ALL_KEYED.keys())
    def test_keys_at_the_limits_are_accepted(self, table: str, operation: Operation) -> None:
        operation(dynamodb(), table, key(pk="é" * 1024, sk="é" * 512))

    def test_a_batch_write_with_one_over_long_key_writes_nothing(self, table: str) -> None:
        client = dynamodb()
        writes = [{"PutRequest": {"Item": key(sk="first")}}, {"PutRequest": {"Item": key(sk=LONG_SK)}}]

        assert refusal(lambda: client.batch_write_item(RequestItems={table: writes}))[1] == SORT_KEY_TOO_LONG
        assert "Item" not in client.get_item(TableName=table, Key=key(sk="first"))


def puts(table: str, count: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": key(sk=f"SK#{number}")}} for number in range(count)]


class TestBatches:
    def test_a_batch_write_of_25_requests_is_accepted_and_26_refused(self, table: str) -> None:
        client = dynamodb()
        client.batch_write_item(RequestItems={table: puts(table, 25)})

        assert refusal(lambda: client.batch_write_item(RequestItems={table: puts(table, 26)})) == (
            "ValidationException",
            f"1 validation error detected: Value at 'RequestItems.{table}.member' failed to satisfy constraint: "
            "Member must have length less than or equal to 25",
        )

    def test_a_batch_get_of_100_keys_is_accepted_and_101_refused(self, table: str) -> None:
        client = dynamodb()
        keys = [key(sk=f"SK#{number}") for number in range(101)]
        client.batch_get_item(RequestItems={table: {"Keys": keys[:100]}})

        code, message = refusal(lambda: client.batch_get_item(RequestItems={table: {"Keys": keys}}))
        assert code == "ValidationException" and message.endswith("Member must have length less than or equal to 100")

    def test_a_batch_get_answer_stops_at_16_mb_and_returns_the_rest_unprocessed(self, table: str) -> None:
        client = dynamodb()
        keys = [key(sk=f"SK#{number}") for number in range(42)]  # 42 items of 400,000 bytes: more than 16 MiB
        for item_key in keys:
            client.put_item(TableName=table, Item={**item_key, "doc": {"S": "x" * 400_000}})

        response = client.batch_get_item(RequestItems={table: {"Keys": keys}})

        unprocessed = response["UnprocessedKeys"][table]["Keys"]
        assert len(response["Responses"][table]) + len(unprocessed) == 42 and unprocessed


def large_put(table: str, number: int, size: int) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {**key(sk=f"SK#{number}"), "doc": {"S": "x" * size}}}}


class TestTransactions:
    def test_a_transactional_read_of_100_items_is_accepted_and_101_refused(self, table: str) -> None:
        client = dynamodb()
        gets = [{"Get": {"TableName": table, "Key": key(sk=f"SK#{number}")}} for number in range(101)]

        assert len(client.transact_get_items(TransactItems=gets[:100])["Responses"]) == 100
        code, message = refusal(lambda: client.transact_get_items(TransactItems=gets))
        assert code == "ValidationException" and message.endswith("Member must have length less than or equal to 100")

    def test_a_transactional_write_of_100_actions_is_accepted_and_101_refused(self, table: str) -> None:
        client = dynamodb()
        writes = [{"Put": {"TableName": table, "Item": key(sk=f"SK#{number}")}} for number in range(101)]
        client.transact_write_items(TransactItems=writes[:100])

        code, message = refusal(lambda: client.transact_write_items(TransactItems=writes))
        assert code == "ValidationException" and "Member must have length less than or equal to 100" in message

    def test_a_transactional_write_over_4_mb_is_refused_and_writes_nothing(self, table: str) -> None:
        client = dynamodb()
        client.transact_write_items(TransactItems=[large_put(table, number, 390_000) for number in range(10)])

        writes = [large_put(table, number, 390_000) for number in range(10, 21)]  # 11 x 390 KB: over 4 MiB
        assert refusal(lambda: client.transact_write_items(TransactItems=writes))[0] == "ValidationException"
        assert "Item" not in client.get_item(TableName=table, Key=key(sk="SK#10"))


class TestItemSizes:
    # DynamoDB's limit is 400 KB (409,600 bytes, names and values); moto's is a little stricter.
    OVER = 409_601

    def test_an_item_under_400_kb_is_stored(self, table: str) -> None:
        dynamodb().put_item(TableName=table, Item={**key(), "doc": {"S": "x" * 400_000}})

    @pytest.mark.parametrize(
        "write",
        [
            lambda client, table, item: client.put_item(TableName=table, Item=item),
            lambda client, table, item: client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}]}),
            lambda client, table, item: client.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": item}}]
            ),
        ],
        ids=["PutItem", "BatchWriteItem", "TransactWriteItems"],
    )
    def test_an_item_over_400_kb_is_refused(self, table: str, write: Callable[[Any, str, Key], Any]) -> None:
        item = {**key(), "doc": {"S": "x" * self.OVER}}
        assert refusal(lambda: write(dynamodb(), table, item)) == ("ValidationException", ITEM_TOO_LARGE)

    def test_an_update_making_an_item_over_400_kb_is_refused(self, table: str) -> None:
        client = dynamodb()
        assert refusal(
            lambda: client.update_item(
                TableName=table,
                Key=key(),
                UpdateExpression="SET doc = :doc",
                ExpressionAttributeValues={":doc": {"S": "x" * self.OVER}},
            )
        ) == ("ValidationException", ITEM_TO_UPDATE_TOO_LARGE)


class TestPages:
    @pytest.mark.parametrize("read", ["query", "scan"])
    def test_a_page_ends_after_1_mb_of_items_read_with_a_key_to_continue_from(self, table: str, read: str) -> None:
        client = dynamodb()
        for number in range(3):  # 3 x 390 KB: more than 1 MiB
            client.put_item(TableName=table, Item={**key(sk=f"SK#{number}"), "doc": {"S": "x" * 390_000}})

        if read == "query":
            page = client.query(
                TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": key()["PK"]}
            )
        else:
            page = client.scan(TableName=table)

        assert len([item for item in page["Items"] if "doc" in item]) == 2 and "LastEvaluatedKey" in page
