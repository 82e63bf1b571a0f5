"""Google Ads click conversion adapter: mapping, click ids, hashing, OAuth token cache, partial failures."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from nimriz_destinations.providers.base import (
    AuthorizationFailed,
    DeliveryItem,
    OutboundRequest,
    ProviderResponse,
    Verdict,
)
from nimriz_destinations.providers.google_ads import (
    API_VERSION,
    MAX_CONVERSIONS_PER_REQUEST,
    PROVIDER,
    RETRY_LATER_SECONDS,
    TOKEN_URL,
    GoogleAds,
    GoogleAdsCredentials,
)
from tests import provider_support

NOW = datetime(2026, 11, 28, 12, 0, 5, 250_000, tzinfo=UTC)
CREDENTIALS: dict[str, Any] = {
    "customer_id": "1234567890",
    "conversion_action_id": "987654321",
    "developer_token": "dev-token-Secret-44aa",
    "client_id": "1234-abc.apps.googleusercontent.com",
    "client_secret": "GOCSPX-client-secret-55bb",
    "refresh_token": "1//refresh-token-66cc",
}
ACCESS_TOKEN = "ya29.access-token-77dd"
AUTHORIZED = {**CREDENTIALS, "access_token": ACCESS_TOKEN}
ACTION = "customers/1234567890/conversionActions/987654321"
EMAIL_HASH = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
GMAIL_HASH = "3a627126a4392d8cec5f5d4eaa26639d3cfe852ebf1f1b49c3ffa61667798637"  # janedoe+promo@gmail.com
PHONE_HASH = "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"  # +14155550123


EVENT_IDS = itertools.count(1)


def make_event(event_type: str = "conversion.sale", **conversion: Any) -> dict[str, Any]:
    """A conversion of its own: a new event id, so its order id is its own (copies go in requests of their own)."""
    click_ids = conversion.pop("click_ids", {"gclid": "Cj0KCQ-gclid_1"})
    event = provider_support.conversion_event(event_type, now=NOW, click_ids=click_ids, **conversion)
    event["id"] = f"evt_{next(EVENT_IDS)}"
    return event


def make_item(
    event: dict[str, Any], reason: str = "live", overrides: list[dict[str, Any]] | None = None
) -> DeliveryItem:
    return provider_support.make_item(PROVIDER, event, overrides=overrides or (), reason=reason)


def build(items: list[DeliveryItem], credentials: dict[str, Any] = AUTHORIZED) -> Any:
    return PROVIDER.build_requests(items, credentials, now=NOW.timestamp())


def body_of(request: OutboundRequest) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.body)
    return body


def one_request(count: int = 1) -> OutboundRequest:
    (request,) = build([make_item(make_event()) for _ in range(count)]).requests
    return request


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> ProviderResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return ProviderResponse(status, headers or {}, raw)


# -- default mapping ------------------------------------------------------------------------------------------


def test_conversion_date_time_is_utc_in_googles_format_and_the_order_id_is_the_event_id() -> None:
    event = make_event()
    payload = PROVIDER.default_payload(event)
    assert payload["conversionDateTime"] == "2026-11-28 12:00:05+00:00"
    assert payload["orderId"] == event["id"]
    assert (payload["conversionValue"], payload["currencyCode"]) == (49.9, "USD")


def test_a_lead_without_revenue_leaves_the_value_to_the_conversion_action() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.lead"))
    assert "conversionValue" not in payload and "currencyCode" not in payload


@pytest.mark.parametrize(
    ("click_ids", "expected"),
    [
        ({"gclid": "G1", "gbraid": "B1", "wbraid": "W1"}, {"gclid": "G1"}),
        ({"gbraid": "B1", "wbraid": "W1"}, {"gbraid": "B1"}),
        ({"wbraid": "W1", "fbclid": "F1"}, {"wbraid": "W1"}),
        ({"fbclid": "F1"}, {}),
    ],
)
def test_exactly_one_google_click_id_is_sent(click_ids: dict[str, str], expected: dict[str, str]) -> None:
    payload = PROVIDER.default_payload(make_event(click_ids=click_ids))
    assert {key: payload[key] for key in ("gclid", "gbraid", "wbraid") if key in payload} == expected


def test_email_and_phone_are_hashed_with_googles_normalisation() -> None:
    payload = PROVIDER.default_payload(make_event(email=" Jane.Doe+promo@GMail.com", phone="+1 (415) 555-0123"))
    assert payload["userIdentifiers"] == [{"hashedEmail": GMAIL_HASH}, {"hashedPhoneNumber": PHONE_HASH}]


def test_dots_are_kept_outside_gmail() -> None:
    payload = PROVIDER.default_payload(make_event(email="jane.doe@example.com", phone=None))
    assert payload["userIdentifiers"] == [{"hashedEmail": EMAIL_HASH}]


def test_every_default_field_is_documented() -> None:
    documented = " ".join(field for field, _ in PROVIDER.default_mapping_doc)
    partial_refund = make_event("conversion.refund", value=10, original_value=49.9)
    for key in [*PROVIDER.default_payload(make_event()), *PROVIDER.default_payload(partial_refund)]:
        assert key in documented, key


def test_credentials_accept_dashed_customer_ids() -> None:
    credentials = GoogleAdsCredentials.model_validate({**CREDENTIALS, "customer_id": "123-456-7890"})
    assert credentials.customer_id == "1234567890"


# -- what is sent ---------------------------------------------------------------------------------------------


def test_each_conversion_names_the_configured_conversion_action() -> None:
    (conversion,) = body_of(one_request())["conversions"]
    assert conversion["conversionAction"] == ACTION
    assert conversion["gclid"] == "Cj0KCQ-gclid_1"


def test_a_mapping_that_adds_a_second_click_id_still_sends_only_one() -> None:
    overrides = [{"type": "static", "to": "wbraid", "value": "W-extra"}]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    (conversion,) = body_of(request)["conversions"]
    assert [key for key in ("gclid", "gbraid", "wbraid") if key in conversion] == ["gclid"]


def test_identifiers_from_a_mapping_are_hashed_and_unsupported_kinds_dropped() -> None:
    identifiers = [
        {"hashedEmail": "Jane.Doe@example.com", "userIdentifierSource": "FIRST_PARTY"},
        {"hashedPhoneNumber": PHONE_HASH},
        {"addressInfo": {"city": "Paris"}},
        {"hashedEmail": "not an email"},
    ]
    overrides = [{"type": "static", "to": "userIdentifiers", "value": identifiers}]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    assert body_of(request)["conversions"][0]["userIdentifiers"] == [
        {"hashedEmail": EMAIL_HASH, "userIdentifierSource": "FIRST_PARTY"},
        {"hashedPhoneNumber": PHONE_HASH},
    ]


def test_at_most_five_identifiers_are_sent() -> None:
    identifiers = [{"hashedEmail": f"person{index}@example.com"} for index in range(7)]
    overrides = [{"type": "static", "to": "userIdentifiers", "value": identifiers}]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    assert len(body_of(request)["conversions"][0]["userIdentifiers"]) == 5


def test_email_alone_is_enough_without_a_click_id() -> None:
    built = build([make_item(make_event(click_ids={}, phone=None))])
    assert built.skipped == {}
    assert "gclid" not in body_of(built.requests[0])["conversions"][0]


@pytest.mark.parametrize("event_type", ["card.viewed", "link.clicked"])
def test_events_google_ads_does_not_get_are_skipped(event_type: str) -> None:
    built = build([make_item(make_event(event_type))])
    assert built.requests == []
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.SKIPPED, "not_a_conversion")


def test_a_conversion_without_click_id_email_or_phone_is_skipped_for_missing_identifier() -> None:
    built = build([make_item(make_event(click_ids={"ttclid": "t"}, email=None, phone=None))])
    assert built.requests == []
    assert built.skipped[0].error_class == "missing_identifier"


def test_request_targets_the_customer_with_partial_failure_and_its_headers() -> None:
    request = one_request()
    body = body_of(request)
    assert request.url == f"https://googleads.googleapis.com/{API_VERSION}/customers/1234567890:uploadClickConversions"
    assert (body["partialFailure"], body["validateOnly"]) == (True, False)
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["developer-token"] == CREDENTIALS["developer_token"]
    assert "login-customer-id" not in request.headers
    assert set(request.secrets) == {ACCESS_TOKEN, CREDENTIALS["developer_token"]}


def test_a_manager_account_is_sent_as_login_customer_id() -> None:
    (request,) = build([make_item(make_event())], {**AUTHORIZED, "login_customer_id": "9876543210"}).requests
    assert request.headers["login-customer-id"] == "9876543210"


def test_building_without_an_access_token_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="authorize"):
        build([make_item(make_event())], CREDENTIALS)


def test_batches_hold_at_most_2000_conversions() -> None:
    built = build([make_item(make_event()) for _ in range(MAX_CONVERSIONS_PER_REQUEST + 1)])
    assert [len(request.items) for request in built.requests] == [MAX_CONVERSIONS_PER_REQUEST, 1]


def test_copies_of_one_order_id_go_in_requests_of_their_own_first_copy_first() -> None:
    sale = make_event()
    items = [make_item(sale), make_item(make_event("conversion.lead")), make_item(sale), make_item(sale)]
    built = build(items)
    assert [request.items for request in built.requests] == [(0, 1), (2,), (3,)]
    for request in built.requests:
        order_ids = [conversion["orderId"] for conversion in body_of(request)["conversions"]]
        assert len(order_ids) == len(set(order_ids))


def test_adjustments_of_one_sale_go_in_requests_of_their_own() -> None:
    refund = make_event("conversion.refund")
    built = build([make_item(refund), make_item(make_event("conversion.cancellation"))])
    assert [request.items for request in built.requests] == [(0,), (1,)]


def test_test_sends_are_validate_only_in_their_own_request() -> None:
    built = build([make_item(make_event(), "test"), make_item(make_event())])
    flags = {request.items: body_of(request)["validateOnly"] for request in built.requests}
    assert flags == {(0,): True, (1,): False}
    test_request = next(request for request in built.requests if request.items == (0,))
    outcome = PROVIDER.classify(test_request, answer(200, {"jobId": "1"}))[0]
    assert outcome.verdict is Verdict.DELIVERED and "validateOnly" in (outcome.message or "")


# -- adjustments: refunds, cancellations, reversals ----------------------------------------------------------

SALE_ID = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"  # the sample follow-ons' original_event_id


def adjustment_sent(event: dict[str, Any], **item: Any) -> dict[str, Any]:
    (request,) = build([make_item(event, **item)]).requests
    assert request.url.endswith(":uploadConversionAdjustments")
    (adjustment,) = body_of(request)["conversionAdjustments"]
    return adjustment


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.cancellation", "conversion.reversal"])
def test_a_follow_on_naming_its_sale_retracts_it_by_order_id(event_type: str) -> None:
    (request,) = build([make_item(make_event(event_type))]).requests
    assert request.url == (
        f"https://googleads.googleapis.com/{API_VERSION}/customers/1234567890:uploadConversionAdjustments"
    )
    body = body_of(request)
    assert (body["partialFailure"], body["validateOnly"]) == (True, False)
    assert body["conversionAdjustments"] == [
        {
            "orderId": SALE_ID,
            "adjustmentType": "RETRACTION",
            "adjustmentDateTime": "2026-11-28 12:00:05+00:00",
            "conversionAction": ACTION,
        }
    ]


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.reversal"])
def test_a_partial_refund_restates_the_sale_to_what_remains(event_type: str) -> None:
    adjustment = adjustment_sent(make_event(event_type, value=20.1, original_value=100))
    assert adjustment["adjustmentType"] == "RESTATEMENT"
    assert adjustment["restatementValue"] == {"adjustedValue": 79.9, "currencyCode": "USD"}


@pytest.mark.parametrize(
    ("event_type", "conversion"),
    [
        ("conversion.refund", {"value": 100, "original_value": 100}),
        ("conversion.refund", {"value": 49.9}),  # the sale's worth is not said: the refund is taken as full
        ("conversion.refund", {"value": None, "original_value": 100}),
        ("conversion.cancellation", {"value": 20, "original_value": 100}),  # a cancellation undoes the whole sale
    ],
)
def test_everything_else_retracts_the_whole_sale(event_type: str, conversion: dict[str, Any]) -> None:
    adjustment = adjustment_sent(make_event(event_type, **conversion))
    assert adjustment["adjustmentType"] == "RETRACTION"
    assert "restatementValue" not in adjustment


def test_a_retraction_never_carries_a_value_even_from_a_mapping() -> None:
    overrides = [{"type": "static", "to": "restatementValue", "value": {"adjustedValue": 1}}]
    assert "restatementValue" not in adjustment_sent(make_event("conversion.refund"), overrides=overrides)


def test_an_adjustment_carries_no_consent_or_click_conversion_fields() -> None:
    event = make_event("conversion.refund")
    event["consent"] = {"ad_user_data": "granted"}
    (request,) = build([make_item(event)], {**AUTHORIZED, "ad_user_data_consent": "granted"}).requests
    (adjustment,) = body_of(request)["conversionAdjustments"]
    assert set(adjustment) == {"orderId", "adjustmentType", "adjustmentDateTime", "conversionAction"}


def test_a_follow_on_without_its_sales_id_is_skipped_with_the_reason() -> None:
    built = build([make_item(make_event("conversion.refund", original_event_id=None))])
    assert built.requests == []
    skipped = built.skipped[0]
    assert (skipped.verdict, skipped.error_class) == (Verdict.SKIPPED, "missing_original_event_id")
    assert "conversion.original_event_id" in (skipped.message or "")


def test_sales_and_adjustments_go_in_requests_of_their_own() -> None:
    items = [
        make_item(make_event("conversion.refund")),
        make_item(make_event()),
        make_item(make_event("card.viewed")),
        make_item(make_event("conversion.cancellation", original_event_id="another-sale")),
        make_item(make_event("conversion.lead")),
    ]
    built = build(items)
    assert [(request.url.rsplit(":", 1)[1], request.items) for request in built.requests] == [
        ("uploadClickConversions", (1, 4)),
        ("uploadConversionAdjustments", (0, 3)),
    ]
    assert built.skipped[2].error_class == "not_a_conversion"


def test_a_test_send_of_a_refund_is_validate_only() -> None:
    (request,) = build([make_item(make_event("conversion.refund"), "test")]).requests
    assert body_of(request)["validateOnly"] is True


def adjustment_error(index: int, code: str) -> dict[str, Any]:
    return {
        "errorCode": {"conversionAdjustmentUploadError": code},
        "message": f"{code} happened",
        "location": {"fieldPathElements": [{"fieldName": "conversion_adjustments", "index": index}]},
    }


def adjustments_request(count: int) -> OutboundRequest:
    refunds = [make_event("conversion.refund", original_event_id=f"sale_{index}") for index in range(count)]
    (request,) = build([make_item(refund) for refund in refunds]).requests
    return request


def test_adjustment_errors_land_on_their_own_follow_on() -> None:
    body = partial_failure(adjustment_error(1, "CONVERSION_NOT_FOUND"))
    outcomes = PROVIDER.classify(adjustments_request(2), answer(200, body))
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert (outcomes[1].verdict, outcomes[1].error_class) == (Verdict.PERMANENT, "conversion_not_found")


@pytest.mark.parametrize("code", ["RESTATEMENT_ALREADY_EXISTS", "CONVERSION_ALREADY_RETRACTED"])
def test_an_adjustment_already_made_counts_as_delivered(code: str) -> None:
    outcome = PROVIDER.classify(adjustments_request(1), answer(200, partial_failure(adjustment_error(0, code))))[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "already adjusted" in (outcome.message or "")


def test_an_adjustment_twice_in_one_request_is_not_delivered() -> None:
    # conversion_adjustment_upload_error.py: DUPLICATE_ADJUSTMENT_IN_REQUEST, "... Make sure your adjustment has the
    # correct adjustment_date_time and try again": the adjustment was not made.
    body = partial_failure(adjustment_error(0, "DUPLICATE_ADJUSTMENT_IN_REQUEST"))
    outcome = PROVIDER.classify(adjustments_request(1), answer(200, body))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.RETRY, "duplicate_adjustment_in_request")


def test_a_click_conversion_duplicate_code_is_not_a_duplicate_adjustment() -> None:
    body = partial_failure(adjustment_error(0, "ORDER_ID_ALREADY_IN_USE"))
    assert PROVIDER.classify(adjustments_request(1), answer(200, body))[0].verdict is Verdict.PERMANENT


# -- consent --------------------------------------------------------------------------------------------------


def conversion_sent(event: dict[str, Any], credentials: dict[str, Any] = AUTHORIZED, **item: Any) -> dict[str, Any]:
    (request,) = build([make_item(event, **item)], credentials).requests
    (conversion,) = body_of(request)["conversions"]
    return conversion


@pytest.mark.parametrize("choice", ["granted", "denied"])
def test_the_destinations_consent_goes_with_every_conversion(choice: str) -> None:
    credentials = {**AUTHORIZED, "ad_user_data_consent": choice}
    (request,) = build([make_item(make_event()), make_item(make_event("conversion.lead"))], credentials).requests
    assert [conversion["consent"] for conversion in body_of(request)["conversions"]] == [
        {"adUserData": choice.upper()}
    ] * 2


@pytest.mark.parametrize(("own", "default", "sent"), [("denied", "granted", "DENIED"), ("granted", None, "GRANTED")])
def test_the_events_own_consent_wins_over_the_destinations(own: str, default: str | None, sent: str) -> None:
    event = make_event()
    event["consent"] = {"ad_user_data": own}
    credentials = {**AUTHORIZED, "ad_user_data_consent": default} if default else AUTHORIZED
    assert conversion_sent(event, credentials)["consent"] == {"adUserData": sent}


def test_without_any_consent_none_is_sent() -> None:
    assert "consent" not in conversion_sent(make_event())
    assert "consent" not in PROVIDER.default_payload(make_event())


def test_consent_set_by_a_mapping_is_sent_in_googles_form_without_ad_personalization() -> None:
    # Google's Consent reference: ad_personalization "can only be set for OfflineUserDataJobService and
    # UserDataService", never on a click conversion.
    overrides = [{"type": "static", "to": "consent", "value": {"adUserData": "denied", "adPersonalization": "DENIED"}}]
    conversion = conversion_sent(make_event(), {**AUTHORIZED, "ad_user_data_consent": "granted"}, overrides=overrides)
    assert conversion["consent"] == {"adUserData": "DENIED"}


@pytest.mark.parametrize("consent", ["GRANTED", {"adUserData": "yes"}, {"ad_user_data": "granted"}])
def test_a_consent_google_could_not_parse_fails_alone_instead_of_the_whole_request(consent: object) -> None:
    overrides = [{"type": "static", "to": "consent", "value": consent}]
    built = build([make_item(make_event(), overrides=overrides), make_item(make_event())])
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.PERMANENT, "invalid_consent")
    assert [request.items for request in built.requests] == [(1,)]


def test_credentials_take_only_granted_or_denied_consent() -> None:
    assert GoogleAdsCredentials.model_validate({**CREDENTIALS, "ad_user_data_consent": "denied"}).ad_user_data_consent
    with pytest.raises(ValueError):
        GoogleAdsCredentials.model_validate({**CREDENTIALS, "ad_user_data_consent": "GRANTED"})


# -- OAuth ----------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """A `send` that answers the token request with fresh tokens and records what it got."""

    def __init__(self, *responses: ProviderResponse) -> None:
        self.requests: list[OutboundRequest] = []
        self._responses = list(responses)

    def __call__(self, request: OutboundRequest) -> ProviderResponse:
        self.requests.append(request)
        if self._responses:
            return self._responses.pop(0)
        return answer(200, {"access_token": f"ya29.token-{len(self.requests)}", "expires_in": 3599})


def test_authorize_exchanges_the_refresh_token_and_lists_its_secrets() -> None:
    send = TokenEndpoint()
    credentials = GoogleAds(clock=FakeClock()).authorize(CREDENTIALS, send)
    assert credentials["access_token"] == "ya29.token-1"
    (request,) = send.requests
    assert (request.method, request.url) == ("POST", TOKEN_URL)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": [CREDENTIALS["client_id"]],
        "client_secret": [CREDENTIALS["client_secret"]],
        "refresh_token": [CREDENTIALS["refresh_token"]],
    }
    assert set(request.secrets) == {CREDENTIALS["client_secret"], CREDENTIALS["refresh_token"]}


def test_the_token_is_reused_until_shortly_before_it_expires() -> None:
    clock, send = FakeClock(), TokenEndpoint()
    provider = GoogleAds(clock=clock)
    provider.authorize(CREDENTIALS, send)
    clock.now += 3599 - 301
    assert provider.authorize(CREDENTIALS, send)["access_token"] == "ya29.token-1"
    clock.now += 2
    assert provider.authorize(CREDENTIALS, send)["access_token"] == "ya29.token-2"
    assert len(send.requests) == 2


def test_forget_authorization_makes_the_next_authorize_refresh() -> None:
    send = TokenEndpoint()
    provider = GoogleAds(clock=FakeClock())
    provider.authorize(CREDENTIALS, send)
    provider.forget_authorization(CREDENTIALS)
    assert provider.authorize(CREDENTIALS, send)["access_token"] == "ya29.token-2"


def test_different_credentials_get_different_tokens() -> None:
    send = TokenEndpoint()
    provider = GoogleAds(clock=FakeClock())
    first = provider.authorize(CREDENTIALS, send)["access_token"]
    second = provider.authorize({**CREDENTIALS, "refresh_token": "1//other"}, send)["access_token"]
    assert first != second
    assert provider.authorize(CREDENTIALS, send)["access_token"] == first


def test_the_token_cache_is_bounded() -> None:
    send = TokenEndpoint()
    provider = GoogleAds(clock=FakeClock(), max_cached_tokens=2)
    for index in range(3):
        provider.authorize({**CREDENTIALS, "refresh_token": f"1//r{index}"}, send)
    provider.authorize({**CREDENTIALS, "refresh_token": "1//r0"}, send)  # evicted: fetched again
    assert len(send.requests) == 4


def test_a_time_limited_grant_tells_when_the_credentials_expire() -> None:
    """Google sends refresh_token_expires_in only for time-based access; otherwise the expiry stays unknown."""
    wall_now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    provider = GoogleAds(clock=FakeClock(), wall_clock=wall_now.timestamp)
    limited = answer(200, {"access_token": "ya29.limited", "expires_in": 3599, "refresh_token_expires_in": 604800})
    provider.authorize(CREDENTIALS, TokenEndpoint(limited))
    assert provider.credential_expiry(CREDENTIALS) == datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    other = {**CREDENTIALS, "refresh_token": "1//unlimited"}
    provider.authorize(other, TokenEndpoint())
    assert provider.credential_expiry(other) is None
    assert provider.can_refresh_authorization(CREDENTIALS) is True


def test_a_revoked_refresh_token_fails_authorization_permanently_without_echoing_secrets() -> None:
    revoked = answer(400, {"error": "invalid_grant", "error_description": f"Bad token {CREDENTIALS['refresh_token']}"})
    with pytest.raises(AuthorizationFailed) as failure:
        GoogleAds(clock=FakeClock()).authorize(CREDENTIALS, TokenEndpoint(revoked))
    outcome = failure.value.outcome
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "oauth_invalid_grant")
    assert CREDENTIALS["refresh_token"] not in str(failure.value)
    assert CREDENTIALS["refresh_token"] not in (outcome.message or "")


def test_an_unavailable_token_endpoint_is_retryable_and_nothing_is_cached() -> None:
    send = TokenEndpoint(answer(503, b"", {"retry-after": "10"}))
    provider = GoogleAds(clock=FakeClock())
    with pytest.raises(AuthorizationFailed) as failure:
        provider.authorize(CREDENTIALS, send)
    assert (failure.value.outcome.verdict, failure.value.outcome.retry_after) == (Verdict.RETRY, 10)
    assert provider.authorize(CREDENTIALS, send)["access_token"] == "ya29.token-2"


# -- classification -------------------------------------------------------------------------------------------


def row_error(index: int | None, code: str, message: str = "row failed") -> dict[str, Any]:
    error: dict[str, Any] = {"errorCode": {"conversionUploadError": code}, "message": message}
    if index is not None:
        error["location"] = {"fieldPathElements": [{"fieldName": "conversions", "index": index}]}
    return error


def partial_failure(*errors: dict[str, Any]) -> dict[str, Any]:
    details = [
        {"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure", "errors": list(errors)}
    ]
    return {"results": [{}], "partialFailureError": {"code": 3, "message": "failed", "details": details}}


def test_a_clean_answer_delivers_every_conversion() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(200, {"results": [{"gclid": "a"}, {"gclid": "b"}]}))
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}


def test_partial_failure_errors_land_on_their_own_conversion() -> None:
    outcomes = PROVIDER.classify(one_request(3), answer(200, partial_failure(row_error(1, "CLICK_NOT_FOUND"))))
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert (outcomes[1].verdict, outcomes[1].error_class) == (Verdict.PERMANENT, "click_not_found")
    assert outcomes[2].verdict is Verdict.DELIVERED


@pytest.mark.parametrize("code", ["CLICK_CONVERSION_ALREADY_EXISTS", "ORDER_ID_ALREADY_IN_USE"])
def test_duplicates_count_as_delivered(code: str) -> None:
    outcome = PROVIDER.classify(one_request(), answer(200, partial_failure(row_error(0, code))))[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "duplicate" in (outcome.message or "")


def test_copies_of_an_order_id_within_one_request_are_not_delivered() -> None:
    # conversion_upload_error.py: DUPLICATE_ORDER_ID "Imported events include multiple conversions with the same
    # order ID and were not processed."
    body = partial_failure(row_error(0, "DUPLICATE_ORDER_ID"), row_error(1, "DUPLICATE_ORDER_ID"))
    outcomes = PROVIDER.classify(one_request(2), answer(200, body))
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.RETRY, "duplicate_order_id")
    }


@pytest.mark.parametrize("code", ["TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION"])
def test_too_recent_rows_are_retried_after_six_hours(code: str) -> None:
    outcome = PROVIDER.classify(one_request(), answer(200, partial_failure(row_error(0, code))))[0]
    assert (outcome.verdict, outcome.error_class, outcome.retry_after) == (
        Verdict.RETRY,
        code.lower(),
        RETRY_LATER_SECONDS,
    )


def test_a_duplicate_does_not_hide_a_real_error_on_the_same_row() -> None:
    body = partial_failure(row_error(0, "ORDER_ID_ALREADY_IN_USE"), row_error(0, "CONVERSION_PRECEDES_EVENT"))
    outcome = PROVIDER.classify(one_request(), answer(200, body))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "conversion_precedes_event")


def test_an_error_naming_no_conversion_applies_to_every_conversion() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(200, partial_failure(row_error(None, "UNAUTHORIZED_CUSTOMER"))))
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.PERMANENT, "unauthorized_customer")
    }


def test_a_partial_failure_without_details_never_passes_for_success() -> None:
    body = {"results": [{}], "partialFailureError": {"code": 3, "message": "something failed"}}
    outcome = PROVIDER.classify(one_request(), answer(200, body))[0]
    assert outcome.verdict is Verdict.PERMANENT


def google_error(status: int, rpc_status: str, error_code: dict[str, str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": f"{rpc_status} happened", "status": rpc_status}
    if error_code:
        error["details"] = [{"errors": [{"errorCode": error_code, "message": "detail"}]}]
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "body", "verdict", "error_class"),
    [
        (401, google_error(401, "UNAUTHENTICATED"), Verdict.PERMANENT, "unauthorized"),
        (
            429,
            google_error(429, "RESOURCE_EXHAUSTED", {"quotaError": "RESOURCE_EXHAUSTED"}),
            Verdict.RETRY,
            "google_ads_resource_exhausted",
        ),
        (500, google_error(500, "INTERNAL"), Verdict.RETRY, "http_500"),
        (503, google_error(503, "UNAVAILABLE"), Verdict.RETRY, "http_503"),
        (400, google_error(400, "INVALID_ARGUMENT", {"fieldError": "REQUIRED"}), Verdict.PERMANENT, "required"),
        (
            403,
            google_error(403, "PERMISSION_DENIED", {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"}),
            Verdict.PERMANENT,
            "developer_token_not_approved",
        ),
        (400, google_error(400, "INVALID_ARGUMENT", {"internalError": "TRANSIENT_ERROR"}), Verdict.RETRY, None),
        (404, b"<html>not found</html>", Verdict.PERMANENT, "http_404"),
    ],
)
def test_whole_request_errors_apply_to_every_conversion(
    status: int, body: Any, verdict: Verdict, error_class: str | None
) -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(status, body))
    assert {outcome.verdict for outcome in outcomes.values()} == {verdict}
    if error_class:
        assert outcomes[0].error_class == error_class


@pytest.mark.parametrize(
    ("quota_error", "retry_delay", "wait"),
    [
        ("RESOURCE_EXHAUSTED", "60s", 60.0),
        ("RESOURCE_TEMPORARILY_EXHAUSTED", "1.500s", 1.5),
        ("RESOURCE_EXHAUSTED", "86400s", 86400.0),  # bounded by the dispatcher, not here
        ("RESOURCE_EXHAUSTED", "a minute", None),  # not a Duration: our own schedule
        ("RESOURCE_EXHAUSTED", None, None),
    ],
)
def test_a_quota_error_is_throttled_for_its_retry_delay(
    quota_error: str, retry_delay: str | None, wait: float | None
) -> None:
    error: dict[str, Any] = {"errorCode": {"quotaError": quota_error}, "message": "Too many requests."}
    if retry_delay is not None:
        error["details"] = {"quotaErrorDetails": {"rateScope": "ACCOUNT", "retryDelay": retry_delay}}
    failure = {"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure", "errors": [error]}
    body = {
        "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED", "details": [failure]}
    }
    outcome = PROVIDER.classify(one_request(), answer(429, body))[0]
    assert (outcome.verdict, outcome.throttled, outcome.retry_after) == (Verdict.RETRY, True, wait)
    assert outcome.error_class == "google_ads_resource_exhausted"


def test_a_429_honours_retry_after() -> None:
    outcome = PROVIDER.classify(
        one_request(), answer(429, google_error(429, "RESOURCE_EXHAUSTED"), {"retry-after": "90"})
    )[0]
    assert outcome.retry_after == 90


def test_error_messages_never_echo_tokens() -> None:
    body = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": f"bad {ACCESS_TOKEN}"}}
    assert ACCESS_TOKEN not in (PROVIDER.classify(one_request(), answer(400, body))[0].message or "")
