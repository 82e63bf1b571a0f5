"""Validate-mode test-sends through the API, in-process, against provider stand-ins over real sockets: the filter's
verdict, the request as sent (redacted), the validation channel's verdict, and nothing counted as a delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations import aws as aws_clients
from nimriz_destinations import runtime
from tests.conftest import ApiClient
from tests.e2e.providers import PROVIDERS
from tests.integration.test_destinations_api import count_calls, create, deliveries_messages
from tests.local.template import LocalStack
from tests.sinks.ga4 import VALIDATION_PATH
from tests.sinks.server import Sink, SinkResponse
from tests.unit.test_validation_verdicts import GA4_DOCUMENTED_REFUSAL

BASE = "/api/integrations/destinations"


@pytest.fixture
def sinks(aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Sink]]:
    """A stand-in per provider these tests use, every provider's traffic sent to its own."""
    with (
        Sink(PROVIDERS["ga4"].handler()) as ga4,
        Sink(PROVIDERS["gtm_server_side"].handler()) as gtm,
        Sink(PROVIDERS["meta"].handler()) as meta,
        Sink(PROVIDERS["tiktok"].handler()) as tiktok,
        Sink(PROVIDERS["segment"].handler()) as segment,
    ):
        started = {"ga4": ga4, "gtm_server_side": gtm, "meta": meta, "tiktok": tiktok, "segment": segment}
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({name: sink.url for name, sink in started.items()}))
        runtime.reset()
        yield started


def destination(api: ApiClient, destination_type: str, **overrides: Any) -> dict[str, Any]:
    setup = PROVIDERS[destination_type]
    body: dict[str, Any] = {
        "name": destination_type,
        "type": destination_type,
        "credentials": dict(setup.credentials),
        "actions": [{"name": "Send", "action_type": setup.action_type}],
        **overrides,
    }
    return create(api, body)


def validate(api: ApiClient, created: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = api.post(f"{BASE}/{created['id']}/test-send", {"mode": "validate", **body})
    assert response.status == 200, response.text
    validation: dict[str, Any] = response.json()["validation"]
    return validation


def test_ga4_validates_at_the_validation_server_and_shows_the_request_as_sent_redacted(
    api: ApiClient, sinks: dict[str, Sink]
) -> None:
    created = destination(api, "ga4")

    validation = validate(api, created)

    assert validation["filter"] == "matched" and validation["rejected_by"] is None
    assert validation["provider"] == {
        "status": "valid",
        "channel": "the GA4 validation server (/debug/mp/collect)",
        "messages": [],
    }
    (sent,) = sinks["ga4"].requests
    assert sent.path == VALIDATION_PATH
    shown = validation["request"]
    assert shown["method"] == "POST" and "/debug/mp/collect?" in shown["url"]
    assert shown["body"] == json.loads(sent.body)  # the request sent, not a rebuilt one
    assert PROVIDERS["ga4"].credentials["api_secret"] not in json.dumps(validation)
    assert "api_secret=[redacted]" in shown["url"]


def test_ga4_invalid_answer_gives_each_validation_message(api: ApiClient, sinks: dict[str, Sink]) -> None:
    created = destination(api, "ga4")
    sinks["ga4"].script.append(SinkResponse(200, GA4_DOCUMENTED_REFUSAL))

    provider = validate(api, created)["provider"]

    assert provider["status"] == "invalid"
    assert provider["messages"] == [
        {
            "description": "Event at index: [0] has invalid name [_badEventName]. Names must start with an alphabetic "
            "character.",
            "field_path": "events",
            "code": "NAME_INVALID",
        }
    ]


def test_a_sample_event_the_filter_rejects_is_filtered_out_and_nothing_is_sent(
    api: ApiClient, sinks: dict[str, Sink]
) -> None:
    only_scans = {"include": {"event_types": ["link.qr_scanned"]}}
    created = destination(
        api, "ga4", actions=[{"name": "Scans", "action_type": "send_event", "event_filter": only_scans}]
    )

    validation = validate(api, created)

    assert (validation["filter"], validation["rejected_by"]) == ("filtered_out", "include.event_types")
    assert validation["request"] is None
    assert validation["provider"]["status"] == "not_sent"
    assert sinks["ga4"].requests == []


def test_meta_without_a_test_event_code_is_not_available_and_sends_nothing(
    api: ApiClient, sinks: dict[str, Sink]
) -> None:
    created = destination(api, "meta")

    validation = validate(api, created)

    provider = validation["provider"]
    assert (provider["status"], provider["channel"]) == ("not_available", None)
    assert "test_event_code" in provider["messages"][0]["description"]
    assert sinks["meta"].requests == []
    assert validation["request"]["url"].endswith("/events?access_token=[redacted]")  # as preview shows it


def test_meta_with_the_request_s_test_event_code_goes_to_test_events_and_is_valid(
    api: ApiClient, sinks: dict[str, Sink]
) -> None:
    created = destination(api, "meta")

    validation = validate(api, created, test_event_code="TEST123")

    assert validation["provider"]["status"] == "valid", validation
    assert "TEST123" in validation["provider"]["channel"]
    assert validation["request"]["body"]["test_event_code"] == "TEST123"
    handler = sinks["meta"].handler
    assert handler.test_event_codes == ["TEST123"]  # type: ignore[attr-defined]
    assert PROVIDERS["meta"].credentials["access_token"] not in json.dumps(validation)


def test_tiktok_with_its_stored_test_event_code_is_valid(api: ApiClient, sinks: dict[str, Sink]) -> None:
    credentials = {**PROVIDERS["tiktok"].credentials, "test_event_code": "TESTTIKTOK"}
    created = destination(api, "tiktok", credentials=credentials)

    validation = validate(api, created)

    assert validation["provider"]["status"] == "valid", validation
    assert sinks["tiktok"].handler.test_event_codes == ["TESTTIKTOK"]  # type: ignore[attr-defined]
    assert validation["request"]["headers"]["Access-Token"] == "[redacted]"


@pytest.mark.parametrize("destination_type", ["segment", "gtm_server_side"])
def test_a_type_without_a_validation_channel_says_so_and_sends_nothing(
    api: ApiClient, sinks: dict[str, Sink], destination_type: str
) -> None:
    created = destination(api, destination_type)

    validation = validate(api, created)

    provider = validation["provider"]
    assert provider["status"] == "not_available"
    assert provider["messages"][0]["description"].startswith(f"{destination_type} has no validation channel")
    assert validation["request"] is not None  # what it would send, as preview shows it
    assert sinks[destination_type].requests == []


def test_nothing_is_counted_as_a_delivery(api: ApiClient, aws: LocalStack, sinks: dict[str, Sink]) -> None:
    created = destination(api, "ga4")
    dynamodb, sqs = count_calls(aws_clients.dynamodb()), count_calls(aws_clients.sqs())

    assert validate(api, created)["provider"]["status"] == "valid"

    assert dynamodb == {"GetItem": 1}  # the destination: no delivery record, no counter
    assert sqs == {}  # nothing queued
    assert deliveries_messages(aws) == []
    assert api.get(f"{BASE}/{created['id']}/deliveries").json()["deliveries"] == []
    totals = api.get(f"{BASE}/{created['id']}/metrics?window=1h").json()["metrics"]["totals"]
    assert {name: totals[name] for name in ("matched", "delivered", "failed", "skipped")} == dict.fromkeys(
        ("matched", "delivered", "failed", "skipped"), 0
    )


def test_a_test_event_code_is_refused_for_a_type_without_one_and_outside_validate_mode(
    api: ApiClient, sinks: dict[str, Sink]
) -> None:
    ga4 = destination(api, "ga4")
    response = api.post(f"{BASE}/{ga4['id']}/test-send", {"mode": "validate", "test_event_code": "TEST123"})
    assert response.status == 422
    assert [d["path"] for d in response.json()["error"]["details"]] == ["test_event_code"]

    meta = destination(api, "meta")
    response = api.post(f"{BASE}/{meta['id']}/test-send", {"test_event_code": "TEST123"})
    assert response.status == 422
    assert [d["path"] for d in response.json()["error"]["details"]] == ["test_event_code"]
    assert sinks["meta"].requests == [] and sinks["ga4"].requests == []


def test_the_queued_mode_is_still_the_default(api: ApiClient, aws: LocalStack, sinks: dict[str, Sink]) -> None:
    created = destination(api, "ga4")
    response = api.post(f"{BASE}/{created['id']}/test-send", {})
    assert response.status == 202
    assert len(deliveries_messages(aws)) == 1
    assert sinks["ga4"].requests == []  # the dispatcher sends it, later
