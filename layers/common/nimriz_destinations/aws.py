"""Lazily created, cached boto3 clients.

Created on first use (not at import) so cold starts that never touch a service do not pay for it,
and so moto can intercept clients created inside tests.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient


@cache
def _client(service: str, *, retried: bool = True) -> Any:
    import boto3
    from botocore.config import Config

    retries = {"mode": "standard", "max_attempts": 3} if retried else {"mode": "standard", "total_max_attempts": 1}
    config = Config(retries=retries, connect_timeout=2, read_timeout=5)  # type: ignore[arg-type]
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def dynamodb() -> DynamoDBClient:
    return _client("dynamodb")


def sqs() -> SQSClient:
    return _client("sqs")


def sqs_first_try() -> SQSClient:
    """SQS without botocore's retries: for a send whose retry must differ from its first try. botocore would send the
    same bodies again after a lost answer, queueing a job twice with nothing to tell the copies apart (queues.py)."""
    return _client("sqs", retried=False)


def secretsmanager() -> SecretsManagerClient:
    return _client("secretsmanager")


def apigateway() -> APIGatewayClient:
    return _client("apigateway")


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints between runs)."""
    _client.cache_clear()
