"""Known secret values must never appear in any response body, header or log line."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import ApiClient
from tests.factories import SECRET_MARK, VALID_CREDENTIALS, action_body, destination_body

BASE = "/api/integrations/destinations"


def test_no_response_or_log_line_contains_a_secret(
    api: ApiClient, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Our own loggers at DEBUG; libraries at INFO (botocore's DEBUG wire dumps are never enabled in Lambda).
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="nimriz-destinations")
    seen: list[str] = []

    def record(response: object) -> None:
        seen.append(json.dumps({"headers": response.headers, "body": response.text}))  # type: ignore[attr-defined]

    for destination_type in VALID_CREDENTIALS:
        created = api.post(BASE, destination_body(destination_type))
        record(created)
        destination = created.json()["destination"]
        url = f"{BASE}/{destination['id']}"
        record(api.get(url))
        action_type = destination["actions"][0]["action_type"]
        credentials = VALID_CREDENTIALS[destination_type] or None
        # An update with credentials, one with a bad credential field, and one without credentials.
        record(api.put(url, {"name": "u", "credentials": credentials, "actions": [action_body(action_type)]}))
        if credentials:
            bad = {**credentials, "unexpected": f"{SECRET_MARK}-in-unknown-field"}
            record(api.put(url, {"name": "u", "credentials": bad, "actions": [action_body(action_type)]}))
        record(api.put(url, {"name": "u", "actions": [action_body(action_type)]}))
        record(api.post(f"{url}/test-send", {}))
    record(api.get(BASE))
    record(
        api.post(
            BASE,
            {
                "name": "x",
                "type": "ga4",
                "credentials": {"api_secret": f"{SECRET_MARK}x", "measurement_id": 1},
                "actions": [],
            },
        )
    )

    assert len(seen) > 50
    for text in seen:
        body = json.loads(text)["body"]
        assert SECRET_MARK not in body, body
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert logs, "expected the handlers to log"
    assert SECRET_MARK not in logs
