"""What a provider or a token endpoint says reaches an outcome only through the redactor, capped; a code it sends
names an error class only when it is one of its documented codes with no secret in it.

Each case answers a real request with a secret of that request (as the provider would echo it) in a field the adapter
reads, and checks that the secret is in neither the error class nor the message, in any letter case.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from nimriz_destinations.providers import get_provider
from nimriz_destinations.providers.base import AuthorizationFailed, OutboundRequest, Outcome, ProviderResponse
from nimriz_destinations.providers.oauth import RefreshTokenGrant
from tests.factories import VALID_CREDENTIALS
from tests.provider_support import conversion_event, make_event, make_item, response

OAUTH_CREDENTIALS = {"client_id": "client-1", "client_secret": "cs_SeCrEt_0123456789", "refresh_token": "rt_abcdef"}
# Upper-case, like a provider's error codes, so only the redactor can tell it from one.
UPPER_CASE_TOKEN = "AQV_UPPER_CASE_SECRET_TOKEN_42"


def built(destination_type: str, **credentials: Any) -> OutboundRequest:
    provider = get_provider(destination_type)
    event = (
        conversion_event("conversion.sale", now=datetime.now(UTC), click_ids={"gclid": "g", "fbclid": "f"})
        if "send_conversion" in provider.action_types
        else make_event()
    )
    (request,) = provider.build_requests(
        [make_item(provider, event)], {**VALID_CREDENTIALS[destination_type], **credentials}, now=time.time()
    ).requests
    return request


def outcome_of(destination_type: str, request: OutboundRequest, answer: ProviderResponse) -> Outcome:
    return get_provider(destination_type).classify(request, answer)[request.items[0]]


def assert_not_shown(outcome: Outcome, secret: str) -> None:
    shown = f"{outcome.error_class} {outcome.message}".lower()
    assert secret.lower() not in shown, outcome


def amplitude(status: int, echo: Callable[[str], dict[str, Any]]) -> tuple[Outcome, str]:
    request = built("amplitude")
    key = VALID_CREDENTIALS["amplitude"]["api_key"]
    return outcome_of("amplitude", request, response(status, echo(key))), key


@pytest.mark.parametrize(
    "echo",
    [
        lambda key: {"error": f"bad key {key}", "events_with_invalid_fields": {"time": [0]}},
        lambda key: {"error": "bad", "events_with_invalid_fields": {key: [0]}},
    ],
    ids=["in_the_error", "as_a_field_name"],
)
def test_amplitude_text_is_redacted_in_rejected_events(echo: Callable[[str], dict[str, Any]]) -> None:
    outcome, key = amplitude(400, echo)
    assert_not_shown(outcome, key)


def test_amplitude_error_text_is_redacted_in_throttled_events() -> None:
    outcome, key = amplitude(429, lambda key: {"error": f"slow down {key}", "throttled_events": [0]})
    assert_not_shown(outcome, key)


def test_posthog_quota_text_is_redacted() -> None:
    request = built("posthog")
    key = VALID_CREDENTIALS["posthog"]["api_key"]
    outcome = outcome_of("posthog", request, response(200, {"quota_limited": [key]}))
    assert outcome.error_class == "posthog_quota_limited"
    assert_not_shown(outcome, key)


def test_a_redirect_host_carrying_a_secret_is_redacted_whatever_its_case() -> None:
    request = built("generic_http")
    secret = VALID_CREDENTIALS["generic_http"]["signing_secret"]
    outcome = outcome_of("generic_http", request, response(302, b"", {"location": f"https://{secret}.example.com/x"}))
    assert outcome.error_class == "redirect_not_followed"
    assert_not_shown(outcome, secret)


def test_a_linkedin_code_holding_the_token_does_not_name_the_error_class() -> None:
    request = built("linkedin", access_token=UPPER_CASE_TOKEN)
    outcome = outcome_of("linkedin", request, response(400, {"status": 400, "code": UPPER_CASE_TOKEN}))
    assert outcome.error_class == "http_400"
    assert_not_shown(outcome, UPPER_CASE_TOKEN)


def test_a_linkedin_code_that_is_no_code_does_not_name_the_error_class() -> None:
    request = built("linkedin")
    outcome = outcome_of("linkedin", request, response(400, {"status": 400, "code": "<b>x</b> " * 40}))
    assert outcome.error_class == "http_400"


def test_google_ads_codes_holding_a_secret_do_not_name_the_error_class() -> None:
    request = built("google_ads", access_token=UPPER_CASE_TOKEN)
    row_error = {"errorCode": {"conversionUploadError": UPPER_CASE_TOKEN}, "message": f"bad {UPPER_CASE_TOKEN}"}
    failure = {"code": 3, "message": "x", "details": [{"errors": [row_error]}]}
    partial = {"results": [{}], "partialFailureError": failure}
    outcome = outcome_of("google_ads", request, response(200, partial))
    assert outcome.error_class == "unknown"
    assert_not_shown(outcome, UPPER_CASE_TOKEN)
    whole = {"error": {"code": 400, "status": UPPER_CASE_TOKEN, "message": UPPER_CASE_TOKEN}}
    outcome = outcome_of("google_ads", request, response(400, whole))
    assert outcome.error_class == "http_400"
    assert_not_shown(outcome, UPPER_CASE_TOKEN)


def test_a_meta_code_that_is_not_a_number_does_not_name_the_error_class() -> None:
    request = built("meta")
    token = VALID_CREDENTIALS["meta"]["access_token"]
    outcome = outcome_of("meta", request, response(400, {"error": {"message": "no", "code": token}}))
    assert outcome.error_class == "meta_error"
    assert_not_shown(outcome, token)


def refused_refresh(error: object, description: str | None = None) -> Outcome:
    url = "https://oauth.example.com/token"
    grant = RefreshTokenGrant(platform="Acme", token_url=url, default_lifetime_seconds=60, max_lifetime_seconds=60)
    body = {"error": error, **({"error_description": description} if description else {})}
    with pytest.raises(AuthorizationFailed) as failure:
        grant.access_token(OAUTH_CREDENTIALS, lambda request: response(400, json.dumps(body)))
    return failure.value.outcome


RFC_6749_CODES = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
)


@pytest.mark.parametrize("code", RFC_6749_CODES)
def test_an_oauth_error_code_of_rfc_6749_names_the_error_class(code: str) -> None:
    outcome = refused_refresh(code)
    assert outcome.error_class == f"oauth_{code}"
    assert outcome.message is not None and code in outcome.message


def test_any_other_oauth_error_is_one_fixed_class_and_its_text_is_redacted() -> None:
    secret = OAUTH_CREDENTIALS["client_secret"]
    outcome = refused_refresh(f"no_such_client_{secret}", f"secret {secret} rejected")
    assert outcome.error_class == "oauth_error"
    assert_not_shown(outcome, secret)
    assert outcome.message is not None and "no_such_client_" in outcome.message


def test_an_oauth_error_that_is_not_text_is_one_fixed_class() -> None:
    assert refused_refresh({"nested": "x" * 1000}).error_class == "oauth_error"
