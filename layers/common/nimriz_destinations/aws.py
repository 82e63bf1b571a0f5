"""Lazily created, cached AWS clients (botocore's, as boto3 makes them).

Created on first use (not at import) so cold starts that never touch a service do not pay for it,
and so moto can intercept clients created inside tests.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

# Clients come from one botocore session, made once per environment: a session of its own per client would parse each
# service's model again (measured: four clients 290 to 360 ms of CPU from a session each, 90 to 190 ms from one new
# session, 11 to 13 ms from a session that made clients before). A session is not safe to use from several threads
# at once, and the dispatcher's threads may ask for their first client together: clients are made under a lock.
_creating = threading.Lock()
_session: Any = None
_clients: dict[tuple[str, bool], Any] = {}


def session() -> Any:
    """The botocore session every client comes from (a handler registered on it reaches the clients made after)."""
    with _creating:
        return _the_session()


def _the_session() -> Any:
    global _session
    if _session is None:
        import botocore.session

        _session = botocore.session.get_session()
    return _session


def _client(service: str, *, retried: bool = True) -> Any:
    made = _clients.get((service, retried))
    if made is not None:
        return made
    with _creating:
        if (service, retried) not in _clients:
            _clients[(service, retried)] = _make_client(service, retried=retried)
        return _clients[(service, retried)]


def _make_client(service: str, *, retried: bool) -> Any:
    from botocore.config import Config

    retries = {"mode": "standard", "max_attempts": 3} if retried else {"mode": "standard", "total_max_attempts": 1}
    config = Config(retries=retries, connect_timeout=2, read_timeout=5)  # type: ignore[arg-type]
    return _the_session().create_client(service, config=config)


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
    """Forget the clients (tests switch endpoints and hooks between runs): the next ones read the endpoint and region
    from the environment again, and take the session's handlers as they are then."""
    with _creating:
        _clients.clear()
