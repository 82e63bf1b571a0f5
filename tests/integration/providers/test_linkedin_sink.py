"""LinkedIn adapter → HttpSender → a LinkedIn-like sink (token endpoint + Conversions API) over loopback sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import API_VERSION_RETIRED, DeliveryItem, OutboundRequest, Outcome, Verdict
from nimriz_destinations.providers.linkedin import LINKEDIN_VERSION, PROVIDER, TOKEN_URL, LinkedIn
from nimriz_destinations.sample_events import sample_event
from tests import provider_support
from tests.sinks.linkedin import LinkedInSink, rate_limited
from tests.sinks.server import Sink

TOKEN = "AQV-linkedin-member-token-0b7e"
CREDENTIALS: dict[str, Any] = {"access_token": TOKEN, "conversion_rule_id": "104012"}
REFRESHING: dict[str, Any] = {
    "refresh_token": "AQW-linkedin-refresh-token-5c1d",
    "client_id": "86abc123linkedin",
    "client_secret": "WPL_AP1.client-secret-9e2f",
    "conversion_rule_id": "104012",
}
EMAIL_HASH = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
DEFAULT = compile_mapping(PropertyMapping())


@pytest.fixture
def linkedin() -> Iterator[tuple[Sink, LinkedInSink]]:
    handler = LinkedInSink(
        access_token=TOKEN,
        conversion_rule_urn="urn:lla:llaPartnerConversion:104012",
        versions=frozenset({LINKEDIN_VERSION}),
        client_id=REFRESHING["client_id"],
        client_secret=REFRESHING["client_secret"],
        refresh_token=REFRESHING["refresh_token"],
        refresh_token_expires_in=200 * 24 * 3600,
    )
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(linkedin: tuple[Sink, LinkedInSink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"linkedin": linkedin[0].url})
    yield http
    http.close()


def make_item(
    event_type: str, index: int = 0, *, reason: str = "live", occurred: datetime | None = None
) -> DeliveryItem:
    event = sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", event_id=f"evt_{index}", now=occurred
    )
    event["click_ids"] = {"li_fat_id": f"li-fat-{index}"}
    return DeliveryItem(f"dlv_{index}", event, DEFAULT.apply(event, PROVIDER.default_payload), reason, 1)


def deliver(
    sender: HttpSender, items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS
) -> dict[int, Outcome]:
    return provider_support.deliver(sender, PROVIDER, items, credentials)


def test_conversions_are_created_in_one_batch(linkedin: tuple[Sink, LinkedInSink], sender: HttpSender) -> None:
    sink, handler = linkedin
    outcomes = deliver(sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    (request,) = sink.requests
    assert request.header("x-restli-method") == "BATCH_CREATE"
    assert [event["eventId"] for event in handler.accepted] == ["evt_0", "evt_1"]
    assert handler.accepted[0]["user"]["userIds"][0] == {"idType": "SHA256_EMAIL", "idValue": EMAIL_HASH}
    assert handler.accepted[1]["conversionValue"] == {"currencyCode": "USD", "amount": "49.9"}


def test_an_event_linkedin_refuses_fails_alone(linkedin: tuple[Sink, LinkedInSink], sender: HttpSender) -> None:
    _, handler = linkedin
    too_old = datetime.now(UTC) - timedelta(days=91)
    outcomes = deliver(sender, [make_item("conversion.lead", 0, occurred=too_old), make_item("conversion.lead", 1)])
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "linkedin_field_validation_error")
    assert "90 days" in (outcomes[0].message or "")
    assert outcomes[1].verdict is Verdict.DELIVERED
    assert [event["eventId"] for event in handler.accepted] == ["evt_1"]


def test_a_test_send_goes_through_as_a_real_event_and_says_so(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    _, handler = linkedin
    outcome = deliver(sender, [make_item("conversion.lead", reason="test")])[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "no test mode" in (outcome.message or "")
    assert len(handler.accepted) == 1


def test_a_wrong_access_token_is_unauthorized(linkedin: tuple[Sink, LinkedInSink], sender: HttpSender) -> None:
    outcome = deliver(sender, [make_item("conversion.lead")], {**CREDENTIALS, "access_token": "AQV-expired"})[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "unauthorized")


def test_throttling_is_throttled_on_our_schedule_as_linkedin_states_no_wait(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    sink, handler = linkedin
    sink.script.append(rate_limited())
    throttled = deliver(sender, [make_item("conversion.lead")])[0]
    assert (throttled.verdict, throttled.throttled, throttled.retry_after) == (Verdict.RETRY, True, None)
    assert deliver(sender, [make_item("conversion.lead")])[0].verdict is Verdict.DELIVERED
    assert len(handler.accepted) == 1


# -- access tokens from the refresh token ---------------------------------------------------------------------


def paths(sink: Sink) -> list[str]:
    return [request.path for request in sink.requests]


def test_a_refreshing_destination_gets_its_token_from_linkedin_then_delivers(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    sink, handler = linkedin
    provider = LinkedIn()
    outcomes = provider_support.deliver(sender, provider, [make_item("conversion.lead")], REFRESHING)
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert paths(sink) == ["/oauth/v2/accessToken", "/rest/conversionEvents"]
    assert sink.requests[1].header("authorization") == f"Bearer {next(iter(handler.issued_tokens))}"
    expiry = provider.credential_expiry(REFRESHING)
    assert expiry is not None and abs((expiry - datetime.now(UTC)) - timedelta(days=200)) < timedelta(minutes=1)


def test_the_token_is_reused_across_deliveries(linkedin: tuple[Sink, LinkedInSink], sender: HttpSender) -> None:
    sink, _ = linkedin
    provider = LinkedIn()
    for index in range(2):
        provider_support.deliver(sender, provider, [make_item("conversion.lead", index)], REFRESHING)
    assert paths(sink).count("/oauth/v2/accessToken") == 1


def test_a_401_is_followed_by_exactly_one_refresh_and_the_conversion_is_delivered(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    sink, handler = linkedin
    provider = LinkedIn()
    provider_support.deliver(sender, provider, [make_item("conversion.lead", 0)], REFRESHING)
    handler.revoke_access_tokens()  # the cached token expired early at LinkedIn
    outcome = provider_support.deliver(sender, provider, [make_item("conversion.lead", 1)], REFRESHING)[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert paths(sink)[2:] == ["/rest/conversionEvents", "/oauth/v2/accessToken", "/rest/conversionEvents"]
    assert [event["eventId"] for event in handler.accepted] == ["evt_0", "evt_1"]


def test_an_expired_static_token_fails_once_without_a_refresh(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    sink, handler = linkedin
    handler.revoke_access_tokens()
    outcome = provider_support.deliver(sender, LinkedIn(), [make_item("conversion.lead")], CREDENTIALS)[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "unauthorized")
    assert "refresh_token" in (outcome.message or "")
    assert paths(sink) == ["/rest/conversionEvents"]


def test_a_revoked_refresh_token_fails_authorization_permanently(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    revoked = {**REFRESHING, "refresh_token": "AQW-revoked"}
    outcome = provider_support.deliver(sender, LinkedIn(), [make_item("conversion.lead")], revoked)[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "oauth_invalid_grant")


def test_a_wrong_client_secret_is_refused_as_invalid_client(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    wrong = {**REFRESHING, "client_secret": "WPL_AP1.wrong"}
    outcome = provider_support.deliver(sender, LinkedIn(), [make_item("conversion.lead")], wrong)[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "oauth_invalid_client")


def test_the_token_endpoint_takes_only_a_form(linkedin: tuple[Sink, LinkedInSink], sender: HttpSender) -> None:
    body = json.dumps({"grant_type": "refresh_token", **REFRESHING}).encode()
    request = OutboundRequest("POST", TOKEN_URL, {"Content-Type": "application/json"}, body, ())
    response = sender.send("linkedin", request)
    assert (response.status, json.loads(response.body)["error"]) == (400, "invalid_request")


def test_a_retired_linkedin_version_fails_permanently_as_api_version_retired(
    linkedin: tuple[Sink, LinkedInSink], sender: HttpSender
) -> None:
    # LinkedIn's answer once a version is sunset: 426 NONEXISTENT_VERSION, "Requested version ... is not active".
    _, handler = linkedin
    handler.versions = frozenset({"202612"})
    outcomes = deliver(sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.PERMANENT, API_VERSION_RETIRED)
    }
    assert LINKEDIN_VERSION in (outcomes[0].message or "")
    assert handler.accepted == []
