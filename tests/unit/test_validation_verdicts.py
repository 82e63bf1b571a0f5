"""What each provider's validation channel declares and how its answers become a validate-mode test-send's verdict
(`service/validation.py`), from the providers' documented example answers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from nimriz_destinations.providers import DESTINATION_TYPES, get_provider
from nimriz_destinations.providers.base import OutboundRequest, ValidationMessage
from nimriz_destinations.providers.measurement_protocol import validation_messages
from nimriz_destinations.service.validation import provider_verdict
from tests.provider_support import make_event, make_item, response

GA4_CREDENTIALS = {"measurement_id": "G-ABC123DEF4", "api_secret": "ga4-secret-value"}
META_CREDENTIALS = {"pixel_id": "123456789012345", "access_token": "meta-token-value", "test_event_code": "TEST123"}
TIKTOK_CREDENTIALS = {"pixel_code": "C4ABCDEFGHIJ1234", "access_token": "tiktok-token-value", "test_event_code": "T1"}
# Google's validating-events guide, "Validation response": the answer to an event named `_badEventName`.
GA4_DOCUMENTED_REFUSAL = {
    "validationMessages": [
        {
            "fieldPath": "events",
            "description": "Event at index: [0] has invalid name [_badEventName]. Names must start with an alphabetic "
            "character.",
            "validationCode": "NAME_INVALID",
        }
    ]
}
# Meta's answer to an accepted request ("Send and Verify Events": events_received, messages, fbtrace_id), the same
# whether it carries a test_event_code or not.
META_DOCUMENTED_ANSWER = {"events_received": 1, "messages": [], "fbtrace_id": "AbCdEfGhIjK"}


def test_google_s_documented_refusal_reads_as_its_messages_with_field_path_and_code() -> None:
    assert validation_messages(response(200, GA4_DOCUMENTED_REFUSAL)) == [
        ValidationMessage(
            "Event at index: [0] has invalid name [_badEventName]. Names must start with an alphabetic character.",
            field_path="events",
            code="NAME_INVALID",
        )
    ]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"validationMessages": []}, []),  # "a request with no validation issues"
        ({"validationMessages": ["not an object"]}, [ValidationMessage("invalid")]),
        ({"validationMessages": "none"}, None),
        (b"<html>busy</html>", None),
    ],
)
def test_validation_messages_read_only_what_the_list_holds(answer: Any, expected: Any) -> None:
    assert validation_messages(response(200, answer)) == expected


def ga4_verdict(status: int, answer: Any) -> Any:
    ga4 = get_provider("ga4")
    (request,) = ga4.build_requests([make_item(ga4, reason="test")], GA4_CREDENTIALS, now=time.time()).requests
    assert request.url.startswith("https://www.google-analytics.com/debug/mp/collect?")
    return _verdict(ga4.destination_type, request, status, answer)


def test_ga4_refusal_is_invalid_with_each_validation_message() -> None:
    verdict = ga4_verdict(200, GA4_DOCUMENTED_REFUSAL)
    assert verdict.status == "invalid"
    assert verdict.channel == "the GA4 validation server (/debug/mp/collect)"
    assert [(m.field_path, m.code) for m in verdict.messages] == [("events", "NAME_INVALID")]


def test_ga4_empty_list_is_valid_without_messages() -> None:
    verdict = ga4_verdict(200, {"validationMessages": []})
    assert (verdict.status, verdict.messages) == ("valid", [])


@pytest.mark.parametrize(("status", "answer"), [(200, {"unexpected": True}), (503, b"unavailable"), (429, b"")])
def test_ga4_answers_that_give_no_verdict_are_errors(status: int, answer: Any) -> None:
    verdict = ga4_verdict(status, answer)
    assert verdict.status == "error"
    assert verdict.messages and verdict.messages[0].code


def conversion_request(destination_type: str, credentials: dict[str, Any]) -> OutboundRequest:
    provider = get_provider(destination_type)
    event = make_event("conversion.lead")
    (request,) = provider.build_requests(
        [make_item(provider, event, reason="test")], credentials, now=time.time()
    ).requests
    assert json.loads(request.body)["test_event_code"] == credentials["test_event_code"]
    return request


def test_meta_test_events_answer_is_valid_and_says_where_to_look() -> None:
    verdict = _verdict("meta", conversion_request("meta", META_CREDENTIALS), 200, META_DOCUMENTED_ANSWER)
    assert verdict.status == "valid"
    assert verdict.channel and "TEST123" in verdict.channel
    assert ["Test events" in m.description for m in verdict.messages] == [True]


def test_meta_refusal_naming_the_event_is_invalid_with_graph_s_message() -> None:
    # Graph's refusal of an invalid server event (error-handling guide; code 100, subcode 2804019).
    refusal = {
        "error": {
            "message": "Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": 2804019,
            "error_user_title": "Server Side API Parameter Error",
            "error_user_msg": "data[0]: event_time is too far in the future",
            "fbtrace_id": "AbCdEfGhIjK",
        }
    }
    verdict = _verdict("meta", conversion_request("meta", META_CREDENTIALS), 400, refusal)
    assert verdict.status == "invalid"
    (message,) = verdict.messages
    assert message.code == "meta_error_100" and "event_time is too far in the future" in message.description


def test_meta_refusal_echoing_the_access_token_is_redacted() -> None:
    echo = {"error": {"message": "Invalid OAuth access token meta-token-value", "type": "OAuthException", "code": 190}}
    verdict = _verdict("meta", conversion_request("meta", META_CREDENTIALS), 400, echo)
    assert verdict.status == "invalid"
    assert "meta-token-value" not in json.dumps([m.description for m in verdict.messages])


def test_tiktok_test_events_answers_give_valid_and_invalid() -> None:
    request = conversion_request("tiktok", TIKTOK_CREDENTIALS)
    # The Events API's envelope {code, message, request_id, data} (tiktok-business-api-sdk tiktok_response.py).
    accepted = _verdict("tiktok", request, 200, {"code": 0, "message": "OK", "request_id": "r1", "data": {}})
    assert accepted.status == "valid"
    refused = {"code": 40002, "message": "Invalid value for event_time", "request_id": "r2", "data": {}}
    verdict = _verdict("tiktok", request, 200, refused)
    assert verdict.status == "invalid"
    assert [(m.code, m.description) for m in verdict.messages] == [("tiktok_40002", "Invalid value for event_time")]


@pytest.mark.parametrize("destination_type", ["meta", "tiktok"])
def test_meta_and_tiktok_have_a_channel_only_with_a_test_event_code(destination_type: str) -> None:
    provider = get_provider(destination_type)
    assert provider.validation_channel({"test_event_code": "TEST123"})
    assert provider.validation_channel({}) is None
    assert "test_event_code" in provider.no_validation_channel


def test_only_ga4_meta_and_tiktok_declare_a_validation_channel() -> None:
    with_code = {"test_event_code": "TEST123"}
    declared = {name for name in DESTINATION_TYPES if get_provider(name).validation_channel(with_code)}
    assert declared == {"ga4", "meta", "tiktok"}
    assert "Preview mode" in get_provider("gtm_server_side").no_validation_channel


def _verdict(destination_type: str, request: OutboundRequest, status: int, answer: Any) -> Any:
    provider = get_provider(destination_type)
    answered = response(status, answer)
    outcome = provider.classify(request, answered)[request.items[0]]
    channel = provider.validation_channel(_credentials(destination_type)) or ""
    return provider_verdict(outcome, channel, request.secrets, provider.validation_messages(request, answered))


def _credentials(destination_type: str) -> dict[str, Any]:
    return {"ga4": GA4_CREDENTIALS, "meta": META_CREDENTIALS, "tiktok": TIKTOK_CREDENTIALS}[destination_type]
