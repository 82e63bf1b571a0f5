"""The environment, read in one place: values a function cannot run without fail at start, naming the variable."""

from __future__ import annotations

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.settings import MissingSetting, RequiredSetting, load_settings


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
