"""The local stack a test or benchmark starts gets its settings from the caller, never from what this process set for
in-process functions before (tests/local/stack.py `stack_environment`)."""

from __future__ import annotations

import pytest

from tests.local.stack import stack_environment


def test_a_stack_started_after_in_process_functions_ran_keeps_its_own_retry_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What bench (f) leaves behind: the template's function settings, its egress override, AWS variables.
    monkeypatch.setenv("RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("RETRY_BACKOFF_FACTOR", "4")
    monkeypatch.setenv("TABLE_NAME", "nimriz-local-DestinationsTable")
    monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", '{"segment": "http://127.0.0.1:1"}')
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2")

    env = stack_environment(
        {"NIMRIZ_DEV_API_KEY": "nim_dev_key", "AUTO_DISABLE_AFTER_SECONDS": "5"}, port=3, moto_port=4
    )

    for inherited in (
        "RETRY_BASE_SECONDS",
        "RETRY_BACKOFF_FACTOR",
        "TABLE_NAME",
        "NIMRIZ_EGRESS_OVERRIDES",
        "AWS_ENDPOINT_URL",
    ):
        assert inherited not in env
    assert env["NIMRIZ_DEV_API_KEY"] == "nim_dev_key" and env["AUTO_DISABLE_AFTER_SECONDS"] == "5"
    assert (env["PORT"], env["MOTO_PORT"]) == ("3", "4")
