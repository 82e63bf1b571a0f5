"""Google Ads adapter → HttpSender → a Google-like sink (OAuth token endpoint, conversion upload, conversion
adjustments) over sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import (
    API_VERSION_RETIRED,
    DeliveryItem,
    OutboundRequest,
    Outcome,
    Verdict,
)
from nimriz_destinations.providers.google_ads import API_VERSION, PROVIDER, GoogleAds
from nimriz_destinations.sample_events import sample_event
from tests import provider_support
from tests.sinks.google_ads import GoogleAdsSink, quota_exhausted
from tests.sinks.server import Sink

CREDENTIALS: dict[str, Any] = {
    "customer_id": "1234567890",
    "conversion_action_id": "987654321",
    "login_customer_id": "1112223334",
    "developer_token": "dev-token-Secret-44aa",
    "client_id": "1234-abc.apps.googleusercontent.com",
    "client_secret": "GOCSPX-client-secret-55bb",
    "refresh_token": "1//refresh-token-66cc",
}
DEFAULT = compile_mapping(PropertyMapping())


@pytest.fixture
def google() -> Iterator[tuple[Sink, GoogleAdsSink]]:
    handler = GoogleAdsSink(
        customer_id=CREDENTIALS["customer_id"],
        developer_token=CREDENTIALS["developer_token"],
        client_id=CREDENTIALS["client_id"],
        client_secret=CREDENTIALS["client_secret"],
        refresh_token=CREDENTIALS["refresh_token"],
        login_customer_id=CREDENTIALS["login_customer_id"],
        version=API_VERSION,
    )
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(google: tuple[Sink, GoogleAdsSink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"google_ads": google[0].url})
    yield http
    http.close()


def make_item(
    event_type: str,
    index: int = 0,
    *,
    reason: str = "live",
    gclid: str = "Cj0KCQ-gclid_1",
    occurred: datetime | None = None,
    event_id: str | None = None,
) -> DeliveryItem:
    event = sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", event_id=event_id or f"evt_{index}", now=occurred
    )
    event["click_ids"] = {"gclid": gclid}
    return make_item_from(event, index, reason=reason)


def make_item_from(event: dict[str, Any], index: int, *, reason: str = "live") -> DeliveryItem:
    return DeliveryItem(f"dlv_{index}", event, DEFAULT.apply(event, PROVIDER.default_payload), reason, 1)


def deliver(
    provider: GoogleAds, sender: HttpSender, items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS
) -> dict[int, Outcome]:
    return provider_support.deliver(sender, provider, items, credentials)


def test_conversions_upload_after_the_refresh_token_grant(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    sink, handler = google
    outcomes = deliver(GoogleAds(), sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert [request.path for request in sink.requests] == [
        "/token",
        f"/{API_VERSION}/customers/1234567890:uploadClickConversions",
    ]
    assert set(handler.uploaded) == {"evt_0", "evt_1"}
    upload = sink.requests[1]
    assert upload.header("login-customer-id") == "1112223334"
    assert upload.header("developer-token") == CREDENTIALS["developer_token"]


def test_the_access_token_is_reused_across_deliveries(google: tuple[Sink, GoogleAdsSink], sender: HttpSender) -> None:
    sink, _ = google
    provider = GoogleAds()
    deliver(provider, sender, [make_item("conversion.lead", 0)])
    deliver(provider, sender, [make_item("conversion.lead", 1)])
    assert [request.path for request in sink.requests].count("/token") == 1


def test_resending_a_delivered_conversion_counts_as_delivered(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    provider = GoogleAds()
    deliver(provider, sender, [make_item("conversion.sale")])
    again = deliver(provider, sender, [make_item("conversion.sale")])[0]
    assert again.verdict is Verdict.DELIVERED
    assert "duplicate" in (again.message or "")
    assert list(handler.uploaded) == ["evt_0"]


def upload_directly(
    sender: HttpSender, rows: list[dict[str, Any]], method: str = "uploadClickConversions"
) -> tuple[int, dict[str, Any]]:
    """A request built by hand (one the adapter would never send), with a token the sink issued: status and body."""
    token = GoogleAds().authorize(CREDENTIALS, lambda request: sender.send("google_ads", request))["access_token"]
    field = "conversions" if method == "uploadClickConversions" else "conversionAdjustments"
    body = json.dumps({field: rows, "partialFailure": True}).encode()
    headers = {"Authorization": f"Bearer {token}", "developer-token": CREDENTIALS["developer_token"]}
    headers["login-customer-id"] = CREDENTIALS["login_customer_id"]
    url = f"https://googleads.googleapis.com/{API_VERSION}/customers/1234567890:{method}"
    response = sender.send("google_ads", OutboundRequest("POST", url, headers, body, (0,)))
    answer: dict[str, Any] = json.loads(response.body)
    return response.status, answer


def conversion_row(order_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "conversionAction": "customers/1234567890/conversionActions/987654321",
        "conversionDateTime": "2026-11-28 12:00:05+00:00",
        "gclid": "Cj0KCQ-gclid_1",
        "orderId": order_id,
        **fields,
    }


def failed_rows(answer: dict[str, Any]) -> dict[int, str]:
    """Row index -> error code of a partial failure answer."""
    errors = answer.get("partialFailureError", {}).get("details", [{}])[0].get("errors", [])
    return {
        error["location"]["fieldPathElements"][0]["index"]: next(iter(error["errorCode"].values())) for error in errors
    }


def test_the_stand_in_processes_no_copy_of_an_order_id_sent_twice_in_one_request(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    rows = [conversion_row("evt_7"), conversion_row("evt_8"), conversion_row("evt_7")]
    status, answer = upload_directly(sender, rows)
    assert status == 200
    assert failed_rows(answer) == {0: "DUPLICATE_ORDER_ID", 2: "DUPLICATE_ORDER_ID"}
    assert list(handler.uploaded) == ["evt_8"]


def test_copies_of_one_event_in_one_group_are_uploaded_once_and_both_delivered(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    sink, handler = google
    copies = [make_item("conversion.sale", 0, event_id="evt_9"), make_item("conversion.sale", 1, event_id="evt_9")]
    outcomes = deliver(GoogleAds(), sender, copies)
    assert outcomes[0] == Outcome.delivered()
    assert outcomes[1].verdict is Verdict.DELIVERED and "duplicate" in (outcomes[1].message or "")
    assert list(handler.uploaded) == ["evt_9"]
    assert [request.path.rsplit(":", 1)[1] for request in sink.requests[1:]] == ["uploadClickConversions"] * 2


def test_ad_personalization_is_refused_on_click_conversions_and_never_sent(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    status, answer = upload_directly(sender, [conversion_row("evt_6", consent={"adPersonalization": "GRANTED"})])
    assert (status, answer["error"]["status"]) == (400, "INVALID_ARGUMENT")
    mapping = compile_mapping(
        PropertyMapping.model_validate(
            {"overrides": [{"type": "static", "to": "consent", "value": {"adPersonalization": "GRANTED"}}]}
        )
    )
    event = make_item("conversion.sale", 1).event
    item = DeliveryItem("dlv_1", event, mapping.apply(event, PROVIDER.default_payload), "live", 1)
    assert deliver(GoogleAds(), sender, [item])[0].verdict is Verdict.DELIVERED
    assert "adPersonalization" not in handler.uploaded["evt_1"].get("consent", {})


def test_a_bad_row_fails_alone_thanks_to_partial_failure(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    items = [make_item("conversion.lead", 0, gclid="not a gclid!"), make_item("conversion.lead", 1)]
    outcomes = deliver(GoogleAds(), sender, items)
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "unparseable_gclid")
    assert outcomes[1].verdict is Verdict.DELIVERED
    assert list(handler.uploaded) == ["evt_1"]


def test_a_test_send_is_validated_and_records_nothing(google: tuple[Sink, GoogleAdsSink], sender: HttpSender) -> None:
    _, handler = google
    outcome = deliver(GoogleAds(), sender, [make_item("conversion.lead", reason="test")])[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "validateOnly" in (outcome.message or "")
    assert handler.uploaded == {}


def test_an_expired_access_token_is_refreshed_once_and_the_upload_goes_through(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    sink, handler = google
    provider = GoogleAds()
    deliver(provider, sender, [make_item("conversion.lead", 0)])
    handler.revoke_access_tokens()
    outcome = deliver(provider, sender, [make_item("conversion.lead", 1)])[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert [request.path for request in sink.requests].count("/token") == 2
    assert set(handler.uploaded) == {"evt_0", "evt_1"}


def test_a_revoked_refresh_token_fails_authorization_permanently(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    revoked = {**CREDENTIALS, "refresh_token": "1//revoked"}
    outcome = deliver(GoogleAds(), sender, [make_item("conversion.lead")], revoked)[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "oauth_invalid_grant")


@pytest.mark.parametrize(("retry_delay", "seconds"), [("60s", 60.0), ("1.5s", 1.5), ("3600s", 3600.0)])
def test_quota_exhaustion_waits_googles_retry_delay_and_spares_the_attempts(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender, retry_delay: str, seconds: float
) -> None:
    sink, handler = google
    provider = GoogleAds()
    provider.authorize(CREDENTIALS, lambda request: sender.send("google_ads", request))  # token first, then script
    sink.script.extend(quota_exhausted(retry_delay) for _ in range(6))
    lead = make_item("conversion.lead")
    writes = provider_support.records(lambda: provider_support.send(sender, provider, [lead], CREDENTIALS)[0], 6, now=0)
    assert [(w.entries[-1].outcome, w.entries[-1].error_class) for w in writes] == [
        ("throttled", "google_ads_resource_exhausted")
    ] * 6
    assert all(seconds <= (w.next_attempt_at or 0) <= seconds * 1.2 + 1 for w in writes)
    assert [w.summary.status for w in writes] == ["retrying"] * 6 and writes[-1].dead_letter is None
    assert deliver(provider, sender, [lead])[0].verdict is Verdict.DELIVERED
    assert list(handler.uploaded) == ["evt_0"]


# -- consent --------------------------------------------------------------------------------------------------


def test_conversions_carry_the_destinations_consent_and_an_events_own_wins(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    sale = dict(make_item("conversion.sale", 1).event, consent={"ad_user_data": "denied"})
    items = [make_item("conversion.lead", 0), make_item_from(sale, 1)]
    credentials = {**CREDENTIALS, "ad_user_data_consent": "granted"}
    outcomes = deliver(GoogleAds(), sender, items, credentials)
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert handler.uploaded["evt_0"]["consent"] == {"adUserData": "GRANTED"}
    assert handler.uploaded["evt_1"]["consent"] == {"adUserData": "DENIED"}


@pytest.mark.parametrize(
    ("consent", "message"),
    [({"adUserData": "granted"}, "Invalid value at 'conversions[0].consent.ad_user_data'"), ({"x": "GRANTED"}, "x")],
)
def test_a_consent_google_cannot_parse_fails_the_whole_request(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender, consent: dict[str, str], message: str
) -> None:
    sink, handler = google
    status, answer = upload_directly(sender, [conversion_row("evt_9", consent=consent)])
    error = answer["error"]
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert message in error["message"]
    assert handler.uploaded == {}
    assert sink.requests[-1].path.endswith(":uploadClickConversions")


# -- adjustments ----------------------------------------------------------------------------------------------

SALE_ID = "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"  # the sample follow-ons' original_event_id


def uploaded_sale(provider: GoogleAds, sender: HttpSender, *, age: timedelta = timedelta(days=2)) -> None:
    sale = make_item("conversion.sale", occurred=datetime.now(UTC) - age, event_id=SALE_ID)
    assert deliver(provider, sender, [sale])[0].verdict is Verdict.DELIVERED


def follow_on(event_type: str, index: int = 1, *, reason: str = "live", **conversion: Any) -> DeliveryItem:
    event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id=f"evt_{index}")
    event["conversion"] = {
        key: value for key, value in {**event["conversion"], **conversion}.items() if value is not None
    }
    return make_item_from(event, index, reason=reason)


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.cancellation", "conversion.reversal"])
def test_a_follow_on_retracts_the_sale_it_names(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender, event_type: str
) -> None:
    sink, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender)
    outcome = deliver(provider, sender, [follow_on(event_type)])[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert sink.requests[-1].path == f"/{API_VERSION}/customers/1234567890:uploadConversionAdjustments"
    (adjustment,) = handler.adjustments
    assert (adjustment["orderId"], adjustment["adjustmentType"]) == (SALE_ID, "RETRACTION")
    assert handler.retracted == {SALE_ID}


def test_a_partial_refund_restates_the_sale_and_its_resend_counts_as_delivered(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender)
    refund = follow_on("conversion.refund", value=9.9, original_value=49.9)
    assert deliver(provider, sender, [refund])[0].verdict is Verdict.DELIVERED
    again = deliver(provider, sender, [refund])[0]
    assert again.verdict is Verdict.DELIVERED and "already adjusted" in (again.message or "")
    (restatement,) = handler.adjustments
    assert restatement["restatementValue"] == {"adjustedValue": 40.0, "currencyCode": "USD"}


def test_a_second_refund_after_a_retraction_counts_as_delivered(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender)
    deliver(provider, sender, [follow_on("conversion.cancellation", 1)])
    outcome = deliver(provider, sender, [follow_on("conversion.refund", 2)])[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert len(handler.adjustments) == 1


def test_a_sale_is_adjusted_right_after_its_upload(google: tuple[Sink, GoogleAdsSink], sender: HttpSender) -> None:
    # Google removed the 24-hour wait on 2024-09-09 ("Improvements to conversion adjustment uploads").
    _, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender, age=timedelta(minutes=1))
    assert deliver(provider, sender, [follow_on("conversion.refund")])[0] == Outcome.delivered()
    assert handler.retracted == {SALE_ID}


def test_the_stand_in_makes_no_copy_of_an_adjustment_sent_twice_in_one_request(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    uploaded_sale(GoogleAds(), sender)
    retraction = {
        "conversionAction": "customers/1234567890/conversionActions/987654321",
        "adjustmentDateTime": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "adjustmentType": "RETRACTION",
        "orderId": SALE_ID,
    }
    status, answer = upload_directly(sender, [retraction, retraction], "uploadConversionAdjustments")
    assert status == 200
    assert failed_rows(answer) == {0: "DUPLICATE_ADJUSTMENT_IN_REQUEST", 1: "DUPLICATE_ADJUSTMENT_IN_REQUEST"}
    assert handler.adjustments == [] and handler.retracted == set()


def test_a_refund_of_a_sale_google_never_got_fails_alone(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender)
    unknown = follow_on("conversion.refund", 1, original_event_id="never-uploaded")
    outcomes = deliver(provider, sender, [unknown, follow_on("conversion.cancellation", 2)])
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "conversion_not_found")
    assert outcomes[1].verdict is Verdict.DELIVERED
    assert [adjustment["orderId"] for adjustment in handler.adjustments] == [SALE_ID]


def test_sales_and_refunds_of_one_group_reach_both_endpoints(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    sink, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender)
    outcomes = deliver(provider, sender, [make_item("conversion.sale", 5), follow_on("conversion.refund", 6)])
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert [request.path.rsplit(":", 1)[1] for request in sink.requests[-2:]] == [
        "uploadClickConversions",
        "uploadConversionAdjustments",
    ]
    assert "evt_5" in handler.uploaded and handler.retracted == {SALE_ID}


def test_a_test_send_of_a_refund_is_validated_and_records_nothing(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    _, handler = google
    provider = GoogleAds()
    uploaded_sale(provider, sender)
    outcome = deliver(provider, sender, [follow_on("conversion.refund", reason="test")])[0]
    assert outcome.verdict is Verdict.DELIVERED and "validateOnly" in (outcome.message or "")
    assert handler.adjustments == [] and handler.retracted == set()


def test_a_follow_on_without_its_sales_id_never_reaches_google(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    sink, _ = google
    outcome = deliver(GoogleAds(), sender, [follow_on("conversion.refund", original_event_id=None)])[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.SKIPPED, "missing_original_event_id")
    assert [request.path for request in sink.requests] == ["/token"]


def test_a_sunset_google_ads_version_fails_permanently_as_api_version_retired(
    google: tuple[Sink, GoogleAdsSink], sender: HttpSender
) -> None:
    # RequestErrorEnum.UNSUPPORTED_VERSION: "This API version has been sunset and is no longer supported."
    _, handler = google
    handler.version, handler.retired_versions = "v27", frozenset({API_VERSION})
    outcomes = deliver(GoogleAds(), sender, [make_item("conversion.lead", 0), follow_on("conversion.refund", 1)])
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.PERMANENT, API_VERSION_RETIRED)
    }
    assert API_VERSION in (outcomes[0].message or "")
    assert handler.uploaded == {} and handler.adjustments == []
