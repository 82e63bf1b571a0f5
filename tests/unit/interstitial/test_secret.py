"""The token key: Secrets Manager in AWS (cached), a fixed key on the local stack, nothing anywhere else."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from nimriz_destinations import aws
from nimriz_destinations.interstitial.secret import TokenSecret, TokenSecretUnavailable
from nimriz_destinations.settings import load_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secrets_manager() -> Iterator[None]:
    with mock_aws():
        aws.reset_clients()
        yield
    aws.reset_clients()


def test_the_stage_secret_is_read_from_secrets_manager_once_per_cache_period(secrets_manager: None) -> None:
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="nimriz-interstitial/test/token-key", SecretString="k" * 64)["ARN"]
    clock = FakeClock()
    secret = TokenSecret(
        load_settings({"STAGE": "prod", "INTERSTITIAL_TOKEN_SECRET_ARN": arn}), cache_seconds=300, clock=clock
    )
    assert secret.get() == b"k" * 64
    client.put_secret_value(SecretId=arn, SecretString="r" * 64)  # rotated
    clock.now = 299
    assert secret.get() == b"k" * 64
    clock.now = 301
    assert secret.get() == b"r" * 64


def test_a_deployed_stage_without_a_secret_refuses_to_sign() -> None:
    with pytest.raises(TokenSecretUnavailable):
        TokenSecret(load_settings({"STAGE": "prod", "NIMRIZ_INTERSTITIAL_SECRET": "ignored-outside-local"})).get()


def test_the_local_stack_uses_its_configured_key() -> None:
    assert (
        TokenSecret(load_settings({"STAGE": "local", "NIMRIZ_INTERSTITIAL_SECRET": "local-key"})).get() == b"local-key"
    )


def test_without_a_configured_key_the_local_stack_keeps_one_random_key() -> None:
    clock = FakeClock()
    secret = TokenSecret(load_settings({"STAGE": "local"}), cache_seconds=1, clock=clock)
    first = secret.get()
    clock.now = 10
    assert secret.get() == first and len(first) >= 32
    assert TokenSecret(load_settings({"STAGE": "local"})).get() != first
