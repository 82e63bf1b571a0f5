"""The fault-injection harness itself: faults reach the code through the project's clients, botocore retries
them as in production, an injected failure has no effect behind it, and seeded chaos is reproducible."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from nimriz_destinations import aws as clients
from nimriz_destinations import runtime
from tests.faults import AWS_SERVICES, Fault, FaultInjector
from tests.local.template import LocalStack

# nimriz_destinations.aws configures retries={"mode": "standard", "max_attempts": 3}; botocore reads that
# max_attempts as retries after the first attempt (its total_max_attempts is 4).
MAX_ATTEMPTS = 4


def put(stack: LocalStack, pk: str) -> None:
    item = {"PK": {"S": pk}, "SK": {"S": "ITEM"}}
    boto3.client("dynamodb").put_item(TableName=stack.tables["DestinationsTable"], Item=item)


def get(stack: LocalStack, pk: str) -> dict[str, Any]:
    key = {"PK": {"S": pk}, "SK": {"S": "ITEM"}}
    return dict(clients.dynamodb().get_item(TableName=stack.tables["DestinationsTable"], Key=key))


def test_a_get_item_throttled_once_is_retried_by_botocore_and_succeeds(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    faults.fail("dynamodb", "GetItem", times=1)

    response = get(aws, "A")

    assert response["Item"]["PK"]["S"] == "A"
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert faults.injected == {"dynamodb.GetItem": 1} and faults.attempts == {"dynamodb.GetItem": 2}


def test_a_get_item_throttled_on_every_attempt_fails_with_client_error(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    faults.fail("dynamodb", "GetItem")

    with pytest.raises(ClientError) as raised:
        get(aws, "A")

    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert faults.injected == {"dynamodb.GetItem": MAX_ATTEMPTS}


def send_live_event(stack: LocalStack) -> Any:
    return clients.sqs().send_message(QueueUrl=stack.queue_urls["LiveEventsQueue"], MessageBody="{}")


def read_missing_secret(_: LocalStack) -> Any:
    return clients.secretsmanager().get_secret_value(SecretId="nimriz-destinations/local/missing")


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("dynamodb", lambda stack: get(stack, "A"), "InternalServerError"),
        ("sqs", send_live_event, "AWS.SimpleQueueService.ServiceUnavailable"),
        ("secretsmanager", read_missing_secret, "InternalServiceError"),
    ],
)
def test_server_errors_carry_each_services_own_code_after_every_attempt(
    aws: LocalStack, faults: FaultInjector, service: str, call: Callable[[LocalStack], Any], code: str
) -> None:
    faults.fail(service, fault=Fault.SERVER_ERROR)
    with pytest.raises(ClientError) as raised:
        call(aws)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert faults.total_injected == MAX_ATTEMPTS


def test_an_injected_failure_never_reaches_moto(aws: LocalStack, faults: FaultInjector) -> None:
    rule = faults.fail("sqs", "SendMessage", fault=Fault.SERVER_ERROR)
    with pytest.raises(ClientError):
        send_live_event(aws)
    faults.remove(rule)
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["LiveEventsQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_a_timeout_after_send_takes_effect_and_the_retry_sends_again(aws: LocalStack, faults: FaultInjector) -> None:
    faults.fail("sqs", "SendMessage", times=1, fault=Fault.TIMEOUT_AFTER_SEND)
    send_live_event(aws)  # the caller sees success; the first attempt landed too
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["LiveEventsQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "2"


def test_read_timeouts_and_connection_errors_are_retried_then_raised(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    faults.fail("dynamodb", "GetItem", fault=Fault.READ_TIMEOUT, times=2)
    assert get(aws, "A")["ResponseMetadata"]["RetryAttempts"] == 2
    faults.clear()
    faults.fail("dynamodb", "GetItem", fault=Fault.READ_TIMEOUT)
    with pytest.raises(ReadTimeoutError):
        get(aws, "A")
    faults.clear()
    faults.fail("sqs", fault=Fault.CONNECTION_ERROR)
    with pytest.raises(EndpointConnectionError):
        send_live_event(aws)
    assert faults.injected == {"dynamodb.GetItem": 2 + MAX_ATTEMPTS, "sqs.SendMessage": MAX_ATTEMPTS}


def test_a_predicate_selects_calls_by_their_parameters(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    put(aws, "B")
    faults.fail("dynamodb", "GetItem", where=lambda params: params["Key"]["PK"]["S"] == "B")
    assert get(aws, "A")["Item"]["PK"]["S"] == "A"
    with pytest.raises(ClientError):
        get(aws, "B")
    assert faults.injected == {"dynamodb.GetItem": MAX_ATTEMPTS}


def test_call_number_k_fails_on_every_attempt_and_only_that_call(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    faults.fail("dynamodb", "GetItem", call=2)
    outcomes = []
    for _ in range(3):
        try:
            get(aws, "A")
            outcomes.append("ok")
        except ClientError:
            outcomes.append("failed")
    assert outcomes == ["ok", "failed", "ok"]
    assert faults.injected == {"dynamodb.GetItem": MAX_ATTEMPTS}


def test_clients_recreated_by_runtime_reset_are_still_faulted(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    get(aws, "A")
    runtime.reset()
    faults.fail("dynamodb", "GetItem")
    with pytest.raises(ClientError):
        get(aws, "A")


def chaos_pattern(stack: LocalStack, seed: int) -> list[int]:
    """Retry counts of 60 calls under 30 % seeded faults on every service."""
    with FaultInjector().installed() as injector:
        injector.fail(AWS_SERVICES, probability=0.3, seed=seed, fault=Fault.SERVER_ERROR)
        pattern = []
        for _ in range(60):
            try:
                pattern.append(get(stack, "A")["ResponseMetadata"]["RetryAttempts"])
            except ClientError:
                pattern.append(MAX_ATTEMPTS)
        return pattern


def test_seeded_probability_is_reproducible(aws: LocalStack) -> None:
    put(aws, "A")
    first, again, other = chaos_pattern(aws, 7), chaos_pattern(aws, 7), chaos_pattern(aws, 8)
    assert first == again
    assert first != other
    assert 0 < sum(first) < 60  # some calls needed retries, most did not
    assert clients.dynamodb().get_item(
        TableName=aws.tables["DestinationsTable"], Key={"PK": {"S": "A"}, "SK": {"S": "ITEM"}}
    )["Item"], "uninstalled: no faults any more"


def conditional_put(stack: LocalStack, pk: str) -> Any:
    item = {"PK": {"S": pk}, "SK": {"S": "ITEM"}}
    return clients.dynamodb().put_item(
        TableName=stack.tables["DestinationsTable"], Item=item, ConditionExpression="attribute_not_exists(PK)"
    )


def test_a_lost_answer_takes_effect_and_botocores_retry_runs_once(aws: LocalStack, faults: FaultInjector) -> None:
    rule = faults.lose_answer("sqs", "SendMessage")
    send_live_event(aws)  # the caller sees one success for a call the service carried out twice
    send_live_event(aws)  # one shot: the next call is untouched
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["LiveEventsQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"
    assert rule.injected == 1 and faults.attempts == {"sqs.SendMessage": 3}


def test_a_lost_answer_makes_a_conditional_write_refuse_its_own_retry(aws: LocalStack, faults: FaultInjector) -> None:
    faults.lose_answer("dynamodb", "PutItem", call=2)
    conditional_put(aws, "A")
    with pytest.raises(ClientError) as refused:
        conditional_put(aws, "B")  # its first attempt wrote the item; the retry finds it there
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert get(aws, "B")["Item"]["PK"]["S"] == "B"
    assert faults.injected == {"dynamodb.PutItem": 1}


def test_slow_answers_arrive_late_and_intact(aws: LocalStack, faults: FaultInjector) -> None:
    put(aws, "A")
    rule = faults.slow("dynamodb", "GetItem", seconds=0.3)
    started = time.monotonic()
    assert get(aws, "A")["Item"]["PK"]["S"] == "A"
    assert time.monotonic() - started >= 0.3
    faults.remove(rule)
    assert faults.total_injected == 0
