"""The local stack's DynamoDB stand-in (its moto server) refuses what DynamoDB refuses, as the in-process one does
(tests/local/dynamodb_limits.py, applied by create_stack in both)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
TABLE = "nimriz-local-DestinationsTable"  # what `make dev` creates from template.yaml


def dynamodb(stack: RunningStack) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_a_read_with_a_sort_key_over_1024_bytes_is_refused_as_dynamodb_refuses_it(local_stack: RunningStack) -> None:
    with pytest.raises(ClientError) as raised:
        dynamodb(local_stack).get_item(
            TableName=TABLE, Key={"PK": {"S": "WS#ws_e2e"}, "SK": {"S": "DEST#" + "x" * 1020}}
        )

    error = raised.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "ValidationException",
        "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of "
        "1024 bytes",
    )


def test_a_transactional_read_of_100_items_is_accepted(local_stack: RunningStack) -> None:
    gets = [
        {"Get": {"TableName": TABLE, "Key": {"PK": {"S": "WS#ws_e2e"}, "SK": {"S": f"DEST#{n}"}}}} for n in range(100)
    ]

    assert len(dynamodb(local_stack).transact_get_items(TransactItems=gets)["Responses"]) == 100
