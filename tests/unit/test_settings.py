"""The environment, read in one place: values a function cannot run without fail at start, naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nimriz_destinations import runtime
from nimriz_destinations import settings as settings_module
from nimriz_destinations.settings import (
    InvalidSettings,
    MissingSetting,
    RequiredSetting,
    check_settings,
    load_settings,
    required_settings,
)


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("table_name", "TABLE_NAME"),
        ("deliveries_queue_url", "DELIVERIES_QUEUE_URL"),
        ("live_events_queue_url", "LIVE_EVENTS_QUEUE_URL"),
        ("live_events_dlq_url", "LIVE_EVENTS_DLQ_URL"),
    ],
)
def test_a_required_setting_that_is_unset_raises_an_error_naming_its_variable(
    name: RequiredSetting, variable: str
) -> None:
    with pytest.raises(MissingSetting, match=f"^{variable} is not set$"):
        load_settings({}).required(name)


def test_a_required_setting_that_is_set_is_returned() -> None:
    assert load_settings({"TABLE_NAME": "destinations"}).required("table_name") == "destinations"


def test_egress_overrides_apply_only_on_the_local_stage() -> None:
    overrides = '{"api.example.com": "http://127.0.0.1:4010"}'
    assert load_settings({"STAGE": "local", "NIMRIZ_EGRESS_OVERRIDES": overrides}).egress_overrides_json == overrides
    assert load_settings({"STAGE": "prod", "NIMRIZ_EGRESS_OVERRIDES": overrides}).egress_overrides_json == ""


def test_a_queue_factory_without_its_queue_url_fails_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DELIVERIES_QUEUE_URL", raising=False)
    runtime.reset()
    try:
        with pytest.raises(MissingSetting, match=r"^DELIVERIES_QUEUE_URL is not set$"):
            runtime.deliveries_queue()
    finally:
        monkeypatch.undo()
        runtime.reset()  # the next test reads its own environment


def test_a_malformed_value_raises_an_error_naming_the_variable_and_what_it_must_be() -> None:
    with pytest.raises(InvalidSettings, match=r"RETRY_BASE_SECONDS='one minute' must be a number of seconds above 0"):
        load_settings({"RETRY_BASE_SECONDS": "one minute"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_BODY_BYTES", "0"),
        ("AUTH_CACHE_SECONDS", "1.5"),
        ("RETRY_BACKOFF_FACTOR", "nan"),
        ("CIRCUIT_COOL_DOWN_SECONDS", "-1"),
        ("DELIVERY_LOG_DAYS", "thirty"),
        ("RELEASE_SWEEP_DELAY_SECONDS", "901"),  # over SQS's longest message delay
        ("RELEASE_SWEEP_DELAY_SECONDS", "2.5"),  # SQS delays are whole seconds
    ],
)
def test_values_out_of_their_range_are_malformed(variable: str, value: str) -> None:
    with pytest.raises(InvalidSettings, match=f"{variable}="):
        load_settings({variable: value})


def test_the_defaults_are_valid_settings() -> None:
    settings = load_settings({})
    assert (settings.retry_base_seconds, settings.auth_cache_seconds, settings.max_body_bytes) == (60, 60, 262144)
    assert settings.release_sweep_delay_seconds == 10


def test_every_missing_and_malformed_variable_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("DELIVERIES_QUEUE_URL", raising=False)
    monkeypatch.setenv("RETRY_BASE_SECONDS", "one minute")
    monkeypatch.setenv("MAX_BODY_BYTES", "lots")
    with pytest.raises(InvalidSettings) as raised:
        check_settings(runtime.destination_service, runtime.deliveries_queue)
    message = str(raised.value)
    for named in ("TABLE_NAME is not set", "DELIVERIES_QUEUE_URL is not set", "RETRY_BASE_SECONDS=", "MAX_BODY_BYTES="):
        assert named in message


def test_a_factory_requires_the_settings_of_the_factories_it_uses() -> None:
    assert required_settings(runtime.api_key_service) == ["TABLE_NAME"]
    assert required_settings(runtime.api_key_service, runtime.idempotency_key) == [
        "TABLE_NAME",
        "IDEMPOTENCY_SECRET_ARN",
    ]


def test_every_variable_the_settings_read_is_in_the_readmes_configuration_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| ([^|]+) \|", table, flags=re.MULTILINE))
    documented = {name for cell in named for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    read = {variable.name for variable in settings_module._VARIABLES.values()}
    assert read - documented == set()
