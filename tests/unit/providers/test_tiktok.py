"""TikTok Events API 2.0 adapter: mapping, identifiers and hashing, batching, test sends, classification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from nimriz_destinations.providers.base import DeliveryItem, OutboundRequest, ProviderResponse, Verdict
from nimriz_destinations.providers.tiktok import API_URL, MAX_EVENTS_PER_REQUEST, PROVIDER, TikTokCredentials
from tests import provider_support

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN = "tt-events-api-token-77c1"
CREDENTIALS: dict[str, Any] = {"pixel_code": "C4A1B2C3D4E5F6G7H8I9", "access_token": TOKEN}
EMAIL_HASH = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
PHONE_HASH = "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"  # +14155550123
EXTERNAL_ID_HASH = "a045eb33f8797f35ea7d5fad7c5e0d021e2142e9c1bb6e9dc9f45b4f503b03e8"  # customer-42


def make_event(event_type: str = "conversion.lead", **conversion: Any) -> dict[str, Any]:
    click_ids = conversion.pop("click_ids", {"ttclid": "E.C.P.v3Case_Sensitive"})
    return provider_support.conversion_event(event_type, now=NOW, click_ids=click_ids, **conversion)


def make_item(
    event: dict[str, Any], reason: str = "live", overrides: list[dict[str, Any]] | None = None
) -> DeliveryItem:
    return provider_support.make_item(PROVIDER, event, overrides=overrides or (), reason=reason)


def build(items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS) -> Any:
    return PROVIDER.build_requests(items, credentials, now=NOW.timestamp())


def one_request(count: int = 1) -> OutboundRequest:
    (request,) = build([make_item(make_event()) for _ in range(count)]).requests
    return request


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> ProviderResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return ProviderResponse(status, headers or {}, raw)


# -- default mapping ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("event_type", "name"), [("conversion.lead", "SubmitForm"), ("conversion.sale", "Purchase")])
def test_outcomes_map_to_tiktoks_current_standard_events(event_type: str, name: str) -> None:
    assert PROVIDER.default_payload(make_event(event_type))["event"] == name


def test_event_time_is_in_seconds_and_the_event_id_is_the_dedup_key() -> None:
    payload = PROVIDER.default_payload(make_event())
    assert payload["event_time"] == int(NOW.timestamp())
    assert payload["event_id"] == "evt_1"
    assert payload["page"] == {"url": "https://shop.example.com/collections/spring"}


def test_user_carries_the_ttclid_as_is_and_hashed_email_and_e164_phone() -> None:
    payload = PROVIDER.default_payload(make_event(email=" JANE.DOE@example.com", phone="+1 415-555-0123"))
    assert payload["user"] == {"ttclid": "E.C.P.v3Case_Sensitive", "email": EMAIL_HASH, "phone": PHONE_HASH}


def test_sale_carries_value_and_currency_in_properties() -> None:
    assert PROVIDER.default_payload(make_event("conversion.sale"))["properties"] == {"value": 49.9, "currency": "USD"}


def test_every_default_field_is_documented() -> None:
    documented = " ".join(field for field, _ in PROVIDER.default_mapping_doc)
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    for key, value in payload.items():
        for field in [f"{key}.{inner}" for inner in value] if isinstance(value, dict) else [key]:
            assert field in documented, field


# -- what is not sent -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "error_class"),
    [
        ("conversion.refund", "unsupported_outcome"),
        ("conversion.cancellation", "unsupported_outcome"),
        ("conversion.reversal", "unsupported_outcome"),
        ("link.clicked", "not_a_conversion"),
        ("card.link_clicked", "not_a_conversion"),
    ],
)
def test_events_tiktok_does_not_get_are_skipped(event_type: str, error_class: str) -> None:
    built = build([make_item(make_event(event_type))])
    assert built.requests == []
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.SKIPPED, error_class)


def test_a_conversion_without_ttclid_email_or_phone_is_skipped_for_missing_identifier() -> None:
    built = build([make_item(make_event(email=None, phone=None, click_ids={"fbclid": "x"})), make_item(make_event())])
    assert built.skipped[0].error_class == "missing_identifier"
    assert [request.items for request in built.requests] == [(1,)]


def test_identifiers_put_in_by_a_mapping_leave_hashed_keeping_their_shape() -> None:
    overrides: list[dict[str, Any]] = [
        {"type": "template", "to": "user.email", "template": "{{conversion.email}}"},
        {"type": "static", "to": "user.external_id", "value": [" Customer-42 "]},
    ]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    user = json.loads(request.body)["data"][0]["user"]
    assert user["email"] == EMAIL_HASH
    assert user["external_id"] == [EXTERNAL_ID_HASH]


# -- requests -------------------------------------------------------------------------------------------------


def test_request_uses_the_2_0_shape_with_the_pixel_code_as_event_source_id() -> None:
    request = one_request()
    body = json.loads(request.body)
    assert (request.method, request.url) == ("POST", API_URL)
    assert (body["event_source"], body["event_source_id"]) == ("web", "C4A1B2C3D4E5F6G7H8I9")
    assert len(body["data"]) == 1
    assert "pixel_code" not in body and "test_event_code" not in body


def test_the_access_token_travels_only_in_its_header_and_is_a_secret() -> None:
    request = one_request()
    assert request.headers["Access-Token"] == TOKEN
    assert TOKEN.encode() not in request.body
    assert request.secrets == (TOKEN,)


def test_batches_hold_at_most_1000_events() -> None:
    built = build([make_item(make_event()) for _ in range(MAX_EVENTS_PER_REQUEST + 1)])
    assert [len(request.items) for request in built.requests] == [MAX_EVENTS_PER_REQUEST, 1]


def test_test_sends_carry_the_test_event_code_in_their_own_request() -> None:
    credentials = {**CREDENTIALS, "test_event_code": "TEST98765"}
    built = build([make_item(make_event()), make_item(make_event(), "test")], credentials)
    codes = {request.items: json.loads(request.body).get("test_event_code") for request in built.requests}
    assert codes == {(0,): None, (1,): "TEST98765"}


def test_a_test_send_without_a_test_event_code_goes_live_and_says_so() -> None:
    (request,) = build([make_item(make_event(), "test")]).requests
    outcome = PROVIDER.classify(request, answer(200, {"code": 0, "message": "OK"}))[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "live" in (outcome.message or "")


# -- classification -------------------------------------------------------------------------------------------


def test_code_zero_delivers_every_event() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(200, {"code": 0, "message": "OK", "request_id": "r"}))
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert set(outcomes) == {0, 1}


@pytest.mark.parametrize(
    ("code", "verdict", "error_class"),
    [
        (40001, Verdict.PERMANENT, "tiktok_40001"),
        (40002, Verdict.PERMANENT, "tiktok_40002"),
        (40100, Verdict.RETRY, "tiktok_40100"),
        (50000, Verdict.RETRY, "tiktok_50000"),
        (51004, Verdict.RETRY, "tiktok_51004"),
        (40105, Verdict.PERMANENT, "unauthorized"),
    ],
)
def test_http_200_with_a_non_zero_code_is_a_failure(code: int, verdict: Verdict, error_class: str) -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(200, {"code": code, "message": f"failure {code}"}))
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {(verdict, error_class)}
    assert outcomes[0].message == f"failure {code}"


@pytest.mark.parametrize("code", [40000, 40002, 40061, 40062])
def test_a_code_refusing_the_requests_content_refuses_its_events_together(code: int) -> None:
    # The code names no event: the dispatcher resends them in halves until the refusal is one event's own.
    outcomes = PROVIDER.classify(one_request(3), answer(200, {"code": code, "message": "Invalid value for event_id"}))
    assert {(o.verdict, o.error_class, o.resend_now) for o in outcomes.values()} == {
        (Verdict.PERMANENT, f"tiktok_{code}", True)
    }


@pytest.mark.parametrize("code", [40001, 40105, 40100, 50000])
def test_codes_about_the_account_or_the_endpoint_are_not_isolated(code: int) -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(200, {"code": code, "message": "failure"}))
    assert not any(outcome.resend_now for outcome in outcomes.values())


def test_a_2xx_without_a_result_code_is_a_permanent_invalid_response_never_sent_again() -> None:
    outcome = PROVIDER.classify(one_request(), answer(200, b"<html>gateway</html>"))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "invalid_response")
    assert "not sent again" in (outcome.message or "")


@pytest.mark.parametrize(
    ("status", "verdict", "error_class"),
    [(401, Verdict.PERMANENT, "unauthorized"), (429, Verdict.RETRY, "http_429"), (502, Verdict.RETRY, "http_502")],
)
def test_status_codes_decide_alone(status: int, verdict: Verdict, error_class: str) -> None:
    outcome = PROVIDER.classify(one_request(), answer(status, b"", {"retry-after": "7"}))[0]
    assert (outcome.verdict, outcome.error_class) == (verdict, error_class)


def test_a_429_honours_retry_after() -> None:
    outcome = PROVIDER.classify(one_request(), answer(429, None, {"retry-after": "45"}))[0]
    assert outcome.retry_after == 45


def test_a_rate_limit_code_honours_retry_after() -> None:
    outcome = PROVIDER.classify(
        one_request(), answer(200, {"code": 40100, "message": "slow down"}, {"retry-after": "5"})
    )[0]
    assert (outcome.verdict, outcome.retry_after) == (Verdict.RETRY, 5)


@pytest.mark.parametrize(
    ("code", "verdict", "throttled"),
    [
        (40100, Verdict.RETRY, True),  # ERROR_CODE_REQUEST_TOO_FREQUENT
        (40132, Verdict.RETRY, True),  # ERROR_CODE_REQUEST_FREQUENCY_LIMITED
        (61000, Verdict.RETRY, True),  # ERROR_CODE_TOO_MANY_REQUESTS_BL
        (60001, Verdict.RETRY, False),  # ERROR_CODE_MAINTENANCE
        (50002, Verdict.RETRY, False),  # ERROR_CODE_SYS_TIMEOUT
        (40002, Verdict.PERMANENT, False),
    ],
)
def test_rate_limit_codes_are_throttled_and_maintenance_is_retried(
    code: int, verdict: Verdict, throttled: bool
) -> None:
    outcome = PROVIDER.classify(one_request(), answer(200, {"code": code, "message": "no"}))[0]
    assert (outcome.verdict, outcome.throttled, outcome.error_class) == (verdict, throttled, f"tiktok_{code}")


def test_error_messages_never_echo_the_access_token() -> None:
    outcome = PROVIDER.classify(one_request(), answer(200, {"code": 40105, "message": f"token {TOKEN} revoked"}))[0]
    assert TOKEN not in (outcome.message or "")


# -- limited data use -----------------------------------------------------------------------------------------


def test_limited_data_use_on_the_destination_flags_every_event() -> None:
    credentials = TikTokCredentials.model_validate({**CREDENTIALS, "limited_data_use": True}).model_dump()
    (request,) = build([make_item(make_event())], credentials).requests
    assert [event.get("limited_data_use") for event in json.loads(request.body)["data"]] == [True]


def test_a_strict_privacy_event_always_goes_with_limited_data_use_whatever_its_mapping_says() -> None:
    strict = make_event()
    strict["privacy_mode"] = "strict"
    overrides = [{"type": "static", "to": "limited_data_use", "value": False}]
    (request,) = build([make_item(strict, overrides=overrides), make_item(make_event())]).requests
    assert [event.get("limited_data_use") for event in json.loads(request.body)["data"]] == [True, None]
