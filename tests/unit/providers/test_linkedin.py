"""LinkedIn Conversions API adapter: mapping, identifiers and hashing, batching, test sends, per-element results,
access tokens from a refresh token, credential health."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from nimriz_destinations.providers.base import (
    AuthorizationFailed,
    DeliveryItem,
    OutboundRequest,
    ProviderResponse,
    Verdict,
)
from nimriz_destinations.providers.linkedin import (
    API_URL,
    LINKEDIN_VERSION,
    MAX_EVENTS_PER_REQUEST,
    PROVIDER,
    TOKEN_URL,
    LinkedIn,
    LinkedInCredentials,
)
from nimriz_destinations.providers.oauth import PREVIEW_ACCESS_TOKEN
from nimriz_destinations.redaction import REDACTED
from tests import provider_support

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN = "AQV-linkedin-member-token-0b7e"
CREDENTIALS: dict[str, Any] = {"access_token": TOKEN, "conversion_rule_id": "104012"}
RULE = "urn:lla:llaPartnerConversion:104012"
EMAIL_HASH = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
LI_FAT_ID = "df5c7d3c-1c4f-4f7b-9a3e-7e1d2c3b4a59"


def make_event(event_type: str = "conversion.lead", **conversion: Any) -> dict[str, Any]:
    click_ids = conversion.pop("click_ids", {"li_fat_id": LI_FAT_ID})
    return provider_support.conversion_event(event_type, now=NOW, click_ids=click_ids, **conversion)


def make_item(
    event: dict[str, Any], reason: str = "live", overrides: list[dict[str, Any]] | None = None
) -> DeliveryItem:
    return provider_support.make_item(PROVIDER, event, overrides=overrides or (), reason=reason)


def build(items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS) -> Any:
    return PROVIDER.build_requests(items, credentials, now=NOW.timestamp())


def elements(request: OutboundRequest) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = json.loads(request.body)["elements"]
    return sent


def one_request(count: int = 1) -> OutboundRequest:
    (request,) = build([make_item(make_event()) for _ in range(count)]).requests
    return request


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> ProviderResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return ProviderResponse(status, headers or {}, raw)


# -- default mapping ------------------------------------------------------------------------------------------


def test_conversion_time_is_in_milliseconds_and_the_event_id_is_the_dedup_key() -> None:
    payload = PROVIDER.default_payload(make_event())
    assert payload["conversionHappenedAt"] == int(NOW.timestamp() * 1000)
    assert payload["eventId"] == "evt_1"


def test_user_ids_are_the_hashed_email_and_the_li_fat_id() -> None:
    payload = PROVIDER.default_payload(make_event(email=" Jane.Doe@EXAMPLE.com "))
    assert payload["user"] == {
        "userIds": [
            {"idType": "SHA256_EMAIL", "idValue": EMAIL_HASH},
            {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": LI_FAT_ID},
        ]
    }


def test_the_phone_is_never_sent() -> None:
    assert b"4155550123" not in json.dumps(PROVIDER.default_payload(make_event())).encode()


def test_a_sale_carries_its_value_as_a_decimal_string() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.sale", value=50))
    assert payload["conversionValue"] == {"currencyCode": "USD", "amount": "50"}
    assert PROVIDER.default_payload(make_event("conversion.sale"))["conversionValue"]["amount"] == "49.9"


def test_a_lead_without_revenue_has_no_conversion_value() -> None:
    assert "conversionValue" not in PROVIDER.default_payload(make_event("conversion.lead"))


@pytest.mark.parametrize("rule_id", ["104012", "urn:lla:llaPartnerConversion:104012"])
def test_the_conversion_rule_urn_comes_from_the_credentials_as_number_or_urn(rule_id: str) -> None:
    (request,) = build([make_item(make_event())], {**CREDENTIALS, "conversion_rule_id": rule_id}).requests
    assert elements(request)[0]["conversion"] == RULE


def test_credentials_reject_a_rule_that_is_neither_number_nor_urn() -> None:
    with pytest.raises(ValueError):
        LinkedInCredentials.model_validate({"access_token": TOKEN, "conversion_rule_id": "urn:li:other:1"})


# -- what is not sent -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "error_class"),
    [
        ("conversion.refund", "unsupported_outcome"),
        ("conversion.cancellation", "unsupported_outcome"),
        ("conversion.reversal", "unsupported_outcome"),
        ("link.qr_scanned", "not_a_conversion"),
    ],
)
def test_events_linkedin_does_not_get_are_skipped(event_type: str, error_class: str) -> None:
    built = build([make_item(make_event(event_type))])
    assert built.requests == []
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.SKIPPED, error_class)


def test_a_conversion_without_email_or_li_fat_id_is_skipped_for_missing_identifier() -> None:
    built = build([make_item(make_event(email=None, click_ids={"gclid": "g"})), make_item(make_event())])
    assert built.skipped[0].error_class == "missing_identifier"
    assert [request.items for request in built.requests] == [(1,)]


def test_user_info_with_first_and_last_name_is_enough_to_send() -> None:
    overrides = [{"type": "static", "to": "user.userInfo", "value": {"firstName": "Jane", "lastName": "Doe"}}]
    built = build([make_item(make_event(email=None, click_ids={}), overrides=overrides)])
    assert built.skipped == {}
    assert elements(built.requests[0])[0]["user"]["userIds"] == []  # LinkedIn requires the list


def test_a_raw_email_put_in_by_a_mapping_leaves_hashed() -> None:
    overrides = [
        {
            "type": "static",
            "to": "user.userIds",
            "value": [{"idType": "SHA256_EMAIL", "idValue": "Jane.Doe@example.com"}],
        }
    ]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    assert elements(request)[0]["user"]["userIds"] == [{"idType": "SHA256_EMAIL", "idValue": EMAIL_HASH}]
    assert b"example.com" not in request.body


# -- requests -------------------------------------------------------------------------------------------------


def test_every_request_is_a_versioned_restli_batch_create() -> None:
    request = one_request()
    assert (request.method, request.url) == ("POST", API_URL)
    assert request.headers["LinkedIn-Version"] == LINKEDIN_VERSION
    assert request.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert request.headers["X-RestLi-Method"] == "BATCH_CREATE"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.secrets == (TOKEN,)
    assert TOKEN.encode() not in request.body


def test_batches_hold_at_most_5000_events() -> None:
    built = build([make_item(make_event()) for _ in range(MAX_EVENTS_PER_REQUEST + 1)])
    assert [len(request.items) for request in built.requests] == [MAX_EVENTS_PER_REQUEST, 1]


def test_a_test_send_is_sent_as_a_real_event_and_the_outcome_says_so() -> None:
    built = build([make_item(make_event(), "test"), make_item(make_event())])
    assert [request.items for request in built.requests] == [(1,), (0,)]
    test_request = built.requests[1]
    outcome = PROVIDER.classify(test_request, answer(200, {"elements": [{"status": 201}]}))[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "no test mode" in (outcome.message or "")
    live = PROVIDER.classify(built.requests[0], answer(200, {"elements": [{"status": 201}]}))[1]
    assert live.message is None


# -- classification -------------------------------------------------------------------------------------------


def test_each_element_gets_its_own_outcome() -> None:
    body = {
        "elements": [
            {"status": 201},
            {"status": 400, "error": {"status": 400, "code": "FIELD_VALIDATION_ERROR", "message": "too old"}},
            {"status": 429},
            {"status": 503},
        ]
    }
    outcomes = PROVIDER.classify(one_request(4), answer(200, body))
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert (outcomes[1].verdict, outcomes[1].error_class, outcomes[1].message) == (
        Verdict.PERMANENT,
        "linkedin_field_validation_error",
        "too old",
    )
    assert (outcomes[2].verdict, outcomes[2].error_class, outcomes[2].throttled) == (Verdict.RETRY, "http_429", True)
    assert outcomes[3].verdict is Verdict.RETRY


def test_elements_missing_from_a_2xx_answer_are_invalid_responses_never_sent_again() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(200, {"elements": [{"status": 201}]}))
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert (outcomes[1].verdict, outcomes[1].error_class) == (Verdict.PERMANENT, "invalid_response")


def test_a_201_without_a_body_delivers_everything() -> None:
    assert PROVIDER.classify(one_request(), answer(201, b""))[0].verdict is Verdict.DELIVERED


def linkedin_error(status: int, code: str | None = None) -> dict[str, Any]:
    return {"status": status, "message": f"failure {status}", **({"code": code} if code else {})}


@pytest.mark.parametrize(
    ("status", "body", "verdict", "error_class"),
    [
        (401, linkedin_error(401, "INVALID_ACCESS_TOKEN"), Verdict.PERMANENT, "unauthorized"),
        (403, linkedin_error(403, "ACCESS_DENIED"), Verdict.PERMANENT, "linkedin_access_denied"),
        (422, linkedin_error(422), Verdict.PERMANENT, "http_422"),
        (426, linkedin_error(426, "NONEXISTENT_VERSION"), Verdict.PERMANENT, "api_version_retired"),
        (429, linkedin_error(429), Verdict.RETRY, "http_429"),
        (500, b"", Verdict.RETRY, "http_500"),
        (400, b"not json", Verdict.PERMANENT, "http_400"),
    ],
)
def test_request_level_answers_apply_to_every_event(status: int, body: Any, verdict: Verdict, error_class: str) -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(status, body))
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {(verdict, error_class)}


def test_a_429_is_throttled_without_a_wait_linkedin_documents_none() -> None:
    body = {"status": 429, "code": "TOO_MANY_REQUESTS", "message": "Resource level throttle limit"}
    outcome = PROVIDER.classify(one_request(), answer(429, body))[0]
    assert (outcome.verdict, outcome.throttled, outcome.retry_after) == (Verdict.RETRY, True, None)


def test_error_messages_never_echo_the_access_token() -> None:
    body = {"status": 400, "code": "BAD", "message": f"bad token {TOKEN}"}
    assert TOKEN not in (PROVIDER.classify(one_request(), answer(400, body))[0].message or "")


def test_every_default_field_is_documented() -> None:
    documented = " ".join(field for field, _ in PROVIDER.default_mapping_doc)
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    for key, value in payload.items():
        for field in [f"{key}.{inner}" for inner in value] if isinstance(value, dict) else [key]:
            assert field in documented, field


# -- access tokens: static, or refreshed ----------------------------------------------------------------------

REFRESHING: dict[str, Any] = {
    "refresh_token": "AQW-linkedin-refresh-token-5c1d",
    "client_id": "86abc123linkedin",
    "client_secret": "WPL_AP1.client-secret-9e2f",
    "conversion_rule_id": "104012",
}
SIXTY_DAYS = 60 * 24 * 3600
WALL_NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """A `send` for LinkedIn's token endpoint: answers each refresh with a new token (or the scripted answers)."""

    def __init__(self, *responses: ProviderResponse, refresh_token_expires_in: int | None = 300 * 24 * 3600) -> None:
        self.requests: list[OutboundRequest] = []
        self._responses = list(responses)
        self._refresh_token_expires_in = refresh_token_expires_in

    def __call__(self, request: OutboundRequest) -> ProviderResponse:
        self.requests.append(request)
        if self._responses:
            return self._responses.pop(0)
        body: dict[str, Any] = {"access_token": f"AQX-token-{len(self.requests)}", "expires_in": SIXTY_DAYS}
        if self._refresh_token_expires_in is not None:
            body["refresh_token"] = REFRESHING["refresh_token"]
            body["refresh_token_expires_in"] = self._refresh_token_expires_in
        return answer(200, body)


def refreshing_provider() -> tuple[LinkedIn, FakeClock]:
    clock = FakeClock(1000.0)
    return LinkedIn(clock=clock, wall_clock=lambda: WALL_NOW.timestamp()), clock


def test_credentials_take_a_refresh_token_without_an_access_token() -> None:
    credentials = LinkedInCredentials.model_validate(REFRESHING)
    assert credentials.access_token is None
    assert LinkedInCredentials.secret_fields() == {"access_token", "refresh_token", "client_secret"}


@pytest.mark.parametrize(
    ("credentials", "reason"),
    [
        ({"conversion_rule_id": "104012"}, "give an access_token, or a refresh_token"),
        ({**REFRESHING, "client_secret": None}, "go together"),
        ({"access_token": TOKEN, "client_id": "86abc123linkedin", "conversion_rule_id": "104012"}, "go together"),
    ],
)
def test_credentials_need_a_token_or_everything_to_refresh_one(credentials: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        LinkedInCredentials.model_validate({key: value for key, value in credentials.items() if value is not None})


def test_a_static_token_is_used_as_given_without_the_network() -> None:
    send = TokenEndpoint()
    provider, _ = refreshing_provider()
    assert provider.authorize(CREDENTIALS, send) == CREDENTIALS
    assert send.requests == []
    assert provider.can_refresh_authorization(CREDENTIALS) is False


def test_a_refresh_token_is_exchanged_at_linkedins_token_endpoint() -> None:
    send = TokenEndpoint()
    provider, _ = refreshing_provider()
    authorized = provider.authorize(REFRESHING, send)
    (request,) = send.requests
    assert (request.method, request.url) == ("POST", TOKEN_URL)
    assert TOKEN_URL == "https://www.linkedin.com/oauth/v2/accessToken"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": [REFRESHING["client_id"]],
        "client_secret": [REFRESHING["client_secret"]],
        "refresh_token": [REFRESHING["refresh_token"]],
    }
    assert set(request.secrets) == {REFRESHING["client_secret"], REFRESHING["refresh_token"]}
    (conversions,) = build([make_item(make_event())], dict(authorized)).requests
    assert conversions.headers["Authorization"] == "Bearer AQX-token-1"
    assert conversions.secrets == ("AQX-token-1",)
    assert provider.can_refresh_authorization(REFRESHING) is True


def test_a_refreshed_token_replaces_a_stored_access_token() -> None:
    provider, _ = refreshing_provider()
    authorized = provider.authorize({**REFRESHING, "access_token": TOKEN}, TokenEndpoint())
    assert authorized["access_token"] == "AQX-token-1"


def test_the_access_token_is_reused_until_shortly_before_its_60_days_end() -> None:
    send = TokenEndpoint()
    provider, clock = refreshing_provider()
    provider.authorize(REFRESHING, send)
    clock.now += SIXTY_DAYS - 301
    assert provider.authorize(REFRESHING, send)["access_token"] == "AQX-token-1"
    clock.now += 2
    assert provider.authorize(REFRESHING, send)["access_token"] == "AQX-token-2"
    assert len(send.requests) == 2


def test_after_a_401_the_token_is_refreshed_exactly_once() -> None:
    """What the dispatcher does on a 401: forget_authorization, authorize again, resend once."""
    send = TokenEndpoint()
    provider, _ = refreshing_provider()
    first = provider.authorize(REFRESHING, send)
    (request,) = build([make_item(make_event())], dict(first)).requests
    assert PROVIDER.classify(request, answer(401, {"status": 401, "code": "EXPIRED_ACCESS_TOKEN"}))[0].verdict is (
        Verdict.PERMANENT
    )
    assert provider.can_refresh_authorization(REFRESHING)
    provider.forget_authorization(REFRESHING)
    second = provider.authorize(REFRESHING, send)
    assert (first["access_token"], second["access_token"]) == ("AQX-token-1", "AQX-token-2")
    assert provider.authorize(REFRESHING, send)["access_token"] == "AQX-token-2"
    assert len(send.requests) == 2


def test_a_revoked_refresh_token_fails_authorization_permanently_without_echoing_it() -> None:
    refused = answer(
        400, {"error": "invalid_grant", "error_description": f"Token {REFRESHING['refresh_token']} was revoked"}
    )
    provider, _ = refreshing_provider()
    with pytest.raises(AuthorizationFailed) as failure:
        provider.authorize(REFRESHING, TokenEndpoint(refused))
    outcome = failure.value.outcome
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "oauth_invalid_grant")
    assert "reconnect the LinkedIn account" in (outcome.message or "")
    assert REFRESHING["refresh_token"] not in (outcome.message or "")


def test_an_unavailable_token_endpoint_is_retried_and_nothing_is_cached() -> None:
    send = TokenEndpoint(answer(503, b"", {"retry-after": "30"}))
    provider, _ = refreshing_provider()
    with pytest.raises(AuthorizationFailed) as failure:
        provider.authorize(REFRESHING, send)
    assert (failure.value.outcome.verdict, failure.value.outcome.retry_after) == (Verdict.RETRY, 30)
    assert provider.authorize(REFRESHING, send)["access_token"] == "AQX-token-2"


def test_a_401_says_that_linkedin_tokens_expire_and_how_to_renew_them() -> None:
    outcome = PROVIDER.classify(one_request(), answer(401, {"status": 401, "code": "INVALID_ACCESS_TOKEN"}))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "unauthorized")
    assert "60 days" in (outcome.message or "") and "refresh_token" in (outcome.message or "")


def test_building_without_any_access_token_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="authorize"):
        build([make_item(make_event())], REFRESHING)


def test_a_preview_of_a_refreshing_destination_shows_a_placeholder_token() -> None:
    preview = PROVIDER.preview_credentials(REFRESHING)
    assert preview.credentials["access_token"] == PREVIEW_ACCESS_TOKEN
    assert preview.note
    assert PROVIDER.preview_credentials(CREDENTIALS).credentials["access_token"] == REDACTED


# -- credential health ----------------------------------------------------------------------------------------


def test_credentials_expire_when_linkedin_says_the_refresh_token_does() -> None:
    provider, _ = refreshing_provider()
    assert provider.credential_expiry(REFRESHING) is None  # nothing learned yet
    provider.authorize(REFRESHING, TokenEndpoint(refresh_token_expires_in=300 * 24 * 3600))
    assert provider.credential_expiry(REFRESHING) == WALL_NOW + timedelta(days=300)


def test_the_expiry_is_unknown_when_the_token_answer_does_not_say_it() -> None:
    provider, _ = refreshing_provider()
    provider.authorize(REFRESHING, TokenEndpoint(refresh_token_expires_in=None))
    assert provider.credential_expiry(REFRESHING) is None


def test_a_static_tokens_expiry_is_unknown() -> None:
    provider, _ = refreshing_provider()
    provider.authorize(CREDENTIALS, TokenEndpoint())
    assert provider.credential_expiry(CREDENTIALS) is None


def test_a_destination_without_a_refresh_token_is_warned_that_its_token_expires() -> None:
    (warning,) = PROVIDER.credential_warnings({"access_token": "…0b7e", "conversion_rule_id": "104012"})
    assert "60 days" in warning and "refresh_token" in warning
    assert PROVIDER.credential_warnings({"refresh_token": "…5c1d", "client_id": "x", "client_secret": "…9e2f"}) == []
