from __future__ import annotations

import json
import time
from typing import Any

import pytest

from nimriz_destinations.providers.amplitude import MAX_BODY_BYTES, PROVIDER, AmplitudeCredentials
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.common import epoch_millis
from tests.provider_support import make_event, make_item, mapped, response

API_KEY = "amp_key_0123456789"
CREDENTIALS = {"api_key": API_KEY, "region": "us"}


def build(items: list[Any], credentials: dict[str, Any] | None = None) -> Any:
    return PROVIDER.build_requests(items, credentials or CREDENTIALS, now=time.time())


def batch_request(size: int) -> Any:
    items = [make_item(PROVIDER, make_event(event_id=f"evt-{i}", visitor=f"visitor{i}")) for i in range(size)]
    (request,) = build(items).requests
    return request


def outcomes(request: Any, answer: Any) -> dict[int, tuple[Verdict, str | None, float | None]]:
    return {p: (o.verdict, o.error_class, o.retry_after) for p, o in PROVIDER.classify(request, answer).items()}


# -- default mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("link.clicked", "Link Clicked"),
        ("link.qr_scanned", "QR Scanned"),
        ("card.viewed", "Card Viewed"),
        ("card.link_clicked", "Card Link Clicked"),
        ("conversion.lead", "Lead"),
        ("conversion.sale", "Sale"),
        ("conversion.refund", "Refund"),
        ("conversion.cancellation", "Cancellation"),
        ("conversion.reversal", "Reversal"),
    ],
)
def test_event_types_get_human_names(event_type: str, name: str) -> None:
    assert PROVIDER.default_payload(make_event(event_type))["event_type"] == name


def test_identity_time_and_dedup_key() -> None:
    event = make_event()
    payload = PROVIDER.default_payload(event)
    assert payload["device_id"] == event["visitor"]["visitor_hash"]
    assert "user_id" not in payload
    assert isinstance(payload["time"], int) and payload["time"] == epoch_millis(event)
    assert payload["insert_id"] == event["id"]


def test_location_and_os_are_amplitude_fields_the_rest_event_properties() -> None:
    event = make_event("link.clicked")
    payload = PROVIDER.default_payload(event)
    assert (payload["country"], payload["region"], payload["city"], payload["os_name"]) == (
        "US",
        "CA",
        "San Francisco",
        "iOS",
    )
    properties = payload["event_properties"]
    assert properties["short_url"] == event["link"]["short_url"]
    assert (properties["utm_source"], properties["utm_campaign"]) == ("instagram", "spring_sale_2026")
    assert properties["device_category"] == "mobile"
    assert properties["gclid"] == event["click_ids"]["gclid"]
    assert properties["nimriz_event_id"] == event["id"] and properties["event_type"] == "link.clicked"
    assert not {"country", "region", "city", "os_family", "visitor_hash", "click_id"} & properties.keys()
    assert "revenue" not in payload


def test_a_sale_adds_revenue() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    assert (payload["revenue"], payload["price"], payload["quantity"], payload["revenueType"]) == (
        49.9,
        49.9,
        1,
        "sale",
    )
    assert payload["event_properties"]["currency"] == "USD"


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.cancellation", "conversion.reversal"])
def test_refund_like_conversions_take_revenue_away(event_type: str) -> None:
    payload = PROVIDER.default_payload(make_event(event_type))
    assert (payload["revenue"], payload["price"]) == (-49.9, -49.9)
    assert payload["revenueType"] == event_type.removeprefix("conversion.")


def test_a_lead_has_no_revenue_but_keeps_its_value_as_a_property() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.lead"))
    assert "revenue" not in payload and payload["event_properties"]["value"] == 0


def test_personal_data_is_not_forwarded_by_default() -> None:
    text = json.dumps(PROVIDER.default_payload(make_event("conversion.sale")))
    assert "jane.doe@example.com" not in text and "+14155550123" not in text


def test_strict_privacy_keeps_region_city_and_visitor_hash_out_even_with_an_include() -> None:
    event = make_event(privacy_mode="strict")
    payload = mapped(PROVIDER, event, [{"type": "include", "field": "context.region", "to": "region"}])
    assert payload["device_id"] == event["visitor"]["click_id"]
    assert "region" not in payload and "city" not in payload and payload["country"] == "US"
    assert "San Francisco" not in json.dumps(payload)


def test_mapping_doc_covers_every_default_field() -> None:
    documented = {row[0] for row in PROVIDER.default_mapping_doc}
    documented |= {name for row in documented for name in row.split(", ")}
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    fields = {key for key in payload if key != "event_properties"}
    fields |= {f"event_properties.{name}" for name in payload["event_properties"]}
    assert fields <= documented


# -- requests and batching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "url"),
    [("us", "https://api2.amplitude.com/2/httpapi"), ("eu", "https://api.eu.amplitude.com/2/httpapi")],
)
def test_region_selects_the_endpoint(region: str, url: str) -> None:
    (request,) = build([make_item(PROVIDER)], CREDENTIALS | {"region": region}).requests
    assert request.url == url


def test_the_api_key_is_in_the_body_and_listed_for_redaction() -> None:
    item = make_item(PROVIDER)
    (request,) = build([item]).requests
    assert json.loads(request.body) == {"api_key": API_KEY, "events": [item.payload]}
    assert request.headers == {"Content-Type": "application/json"}
    assert API_KEY in request.secrets and API_KEY not in request.url


def test_2000_events_fit_one_request_and_the_2001st_starts_another() -> None:
    minimal = [
        {"type": "static", "to": "event_type", "value": "Ping"},
        {"type": "static", "to": "device_id", "value": "device-1"},
    ]
    item = make_item(PROVIDER, base="none", overrides=minimal)
    requests = build([item] * 2001).requests
    assert [len(request.items) for request in requests] == [2000, 1]


def test_default_events_fill_requests_up_to_the_byte_limit() -> None:
    items = [make_item(PROVIDER, make_event(event_id=f"e{i}")) for i in range(2000)]
    requests = build(items).requests
    assert len(requests) > 1
    assert all(len(request.body) <= MAX_BODY_BYTES for request in requests)
    # Packed tightly: one more event would not have fitted in any full request.
    assert all(len(request.body) > MAX_BODY_BYTES - 2000 for request in requests[:-1])


def test_bodies_stay_under_1_mb() -> None:
    bulky = [{"type": "include", "field": "utm.content", "to": f"event_properties.blob{n}"} for n in range(5)]
    events = [make_event(event_id=f"e{i}") for i in range(60)]
    for event in events:
        event["utm"]["content"] = "z" * 4000
    items = [make_item(PROVIDER, event, overrides=bulky) for event in events]
    requests = build(items).requests
    assert len(requests) == 2
    assert all(len(request.body) <= MAX_BODY_BYTES for request in requests)
    assert [p for request in requests for p in request.items] == list(range(60))


def test_events_amplitude_would_reject_are_skipped() -> None:
    no_name = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "event_type"}])
    no_id = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "device_id"}])
    short_id = make_item(PROVIDER, overrides=[{"type": "static", "to": "device_id", "value": "abc"}])
    user_only = make_item(
        PROVIDER,
        overrides=[{"type": "exclude", "field": "device_id"}, {"type": "static", "to": "user_id", "value": "user-1"}],
    )
    built = build([no_name, no_id, short_id, user_only])
    assert {p: o.error_class for p, o in built.skipped.items()} == {
        0: "missing_event_name",
        1: "missing_identifier",
        2: "missing_identifier",
    }
    assert [request.items for request in built.requests] == [(3,)]


def test_a_short_user_id_next_to_a_valid_device_id_is_skipped_alone() -> None:
    short_user = make_item(PROVIDER, overrides=[{"type": "static", "to": "user_id", "value": "u1"}])
    numeric_user = make_item(PROVIDER, overrides=[{"type": "static", "to": "user_id", "value": 123456}])
    built = build([make_item(PROVIDER), short_user, numeric_user, make_item(PROVIDER)])
    assert {p: (o.verdict, o.error_class) for p, o in built.skipped.items()} == {
        1: (Verdict.SKIPPED, "invalid_identifier"),
        2: (Verdict.SKIPPED, "invalid_identifier"),
    }
    assert "user_id" in (built.skipped[1].message or "") and "5 characters" in (built.skipped[1].message or "")
    assert [request.items for request in built.requests] == [(0, 3)]


# -- classification --------------------------------------------------------------------------------------------


def test_200_is_delivered() -> None:
    answer = response(200, {"code": 200, "events_ingested": 2, "payload_size_bytes": 10, "server_upload_time": 1})
    assert set(outcomes(batch_request(2), answer).values()) == {(Verdict.DELIVERED, None, None)}


def test_400_with_event_indices_fails_those_events_and_resends_the_rest() -> None:
    answer = response(
        400,
        {
            "code": 400,
            "error": "Invalid field values on some events",
            "events_with_invalid_fields": {"time": [1]},
            "events_with_missing_fields": {"event_type": [3]},
        },
    )
    request = batch_request(4)
    result = PROVIDER.classify(request, answer)
    assert {p: (o.verdict, o.error_class) for p, o in result.items()} == {
        0: (Verdict.RETRY, "amplitude_batch_rejected"),
        1: (Verdict.PERMANENT, "amplitude_invalid_event"),
        2: (Verdict.RETRY, "amplitude_batch_rejected"),
        3: (Verdict.PERMANENT, "amplitude_invalid_event"),
    }
    assert result[1].message == "Invalid field values on some events: invalid `time`"
    assert result[3].message == "Invalid field values on some events: missing `event_type`"


def test_400_silenced_devices_are_permanent_throttled_ones_wait_30_seconds() -> None:
    answer = response(
        400,
        {"code": 400, "error": "Events silenced for device_id", "silenced_events": [0], "throttled_events": [1]},
    )
    assert outcomes(batch_request(3), answer) == {
        0: (Verdict.PERMANENT, "amplitude_invalid_event", None),
        1: (Verdict.RETRY, "amplitude_throttled", 30.0),
        2: (Verdict.RETRY, "amplitude_batch_rejected", None),
    }


def test_400_invalid_id_lengths_fail_those_events_and_resend_the_rest() -> None:
    answer = response(
        400,
        {
            "code": 400,
            "error": "Invalid id length for user_id or device_id",
            "events_with_invalid_id_lengths": {"user_id": [0], "device_id": [2]},
        },
    )
    result = PROVIDER.classify(batch_request(3), answer)
    assert {p: (o.verdict, o.error_class) for p, o in result.items()} == {
        0: (Verdict.PERMANENT, "amplitude_invalid_event"),
        1: (Verdict.RETRY, "amplitude_batch_rejected"),
        2: (Verdict.PERMANENT, "amplitude_invalid_event"),
    }
    assert result[0].message == (
        "Invalid id length for user_id or device_id: `user_id` shorter than Amplitude's minimum of 5 characters"
    )


def test_400_silenced_devices_fail_their_events_and_resend_the_rest() -> None:
    request = batch_request(3)
    silenced_device = json.loads(request.body)["events"][1]["device_id"]
    answer = response(
        400, {"code": 400, "error": "Events silenced for device_id", "silenced_devices": [silenced_device]}
    )
    assert outcomes(request, answer) == {
        0: (Verdict.RETRY, "amplitude_batch_rejected", None),
        1: (Verdict.PERMANENT, "amplitude_invalid_event", None),
        2: (Verdict.RETRY, "amplitude_batch_rejected", None),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"code": 400, "error": "Invalid API key: 0123"},
        {"code": 400, "error": "Request missing required field", "missing_field": "api_key"},
    ],
)
def test_an_invalid_api_key_or_a_missing_field_fails_every_event(body: Any) -> None:
    result = PROVIDER.classify(batch_request(2), response(400, body))
    assert {o.verdict for o in result.values()} == {Verdict.PERMANENT}


def test_any_other_400_naming_no_event_is_retried_as_amplitudes_sdk_does() -> None:
    # Amplitude-Python src/amplitude/processor.py: a 400 is final only for "Invalid API key:" or a missing_field;
    # otherwise the events it does not list are pushed back for retry (all of them when it lists none).
    result = PROVIDER.classify(batch_request(2), response(400, {"code": 400, "error": "Invalid JSON request body"}))
    assert {(o.verdict, o.error_class) for o in result.values()} == {(Verdict.RETRY, "http_400")}


def test_an_error_echoing_the_api_key_does_not_put_it_in_the_record() -> None:
    request = batch_request(1)
    outcome = PROVIDER.classify(request, response(400, {"code": 400, "error": f"Invalid API key {API_KEY}"}))[0]
    assert API_KEY not in (outcome.message or "") and "[redacted]" in (outcome.message or "")


def test_429_retries_throttled_events_after_30_seconds_and_the_rest_at_once() -> None:
    answer = response(
        429,
        {"code": 429, "error": "Too many requests for some devices and users", "throttled_events": [1]},
    )
    assert outcomes(batch_request(2), answer) == {
        0: (Verdict.RETRY, "amplitude_batch_rejected", None),
        1: (Verdict.RETRY, "http_429", 30.0),
    }


def test_429_retry_after_longer_than_30_seconds_wins() -> None:
    answer = response(429, {"code": 429, "error": "Too many requests"}, {"Retry-After": "120"})
    assert outcomes(batch_request(1), answer) == {0: (Verdict.RETRY, "http_429", 120.0)}


def test_429_for_a_device_over_its_daily_quota_is_permanent() -> None:
    request = batch_request(2)
    over = json.loads(request.body)["events"][0]["device_id"]
    answer = response(
        429,
        {
            "code": 429,
            "error": "Too many requests",
            "throttled_events": [0, 1],
            "exceeded_daily_quota_devices": {over: 1},
        },
    )
    assert outcomes(request, answer) == {
        0: (Verdict.PERMANENT, "amplitude_daily_quota_exceeded", None),
        1: (Verdict.RETRY, "http_429", 30.0),
    }


def test_413_fails_a_lone_event_and_refuses_a_batchs_events_together() -> None:
    answer = response(413, {"code": 413, "error": "Payload too large"})
    assert outcomes(batch_request(1), answer) == {0: (Verdict.PERMANENT, "http_413", None)}
    assert set(outcomes(batch_request(2), answer).values()) == {(Verdict.PERMANENT, "http_413", None)}
    assert all(outcome.resend_now for outcome in PROVIDER.classify(batch_request(2), answer).values())


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(status: int) -> None:
    assert outcomes(batch_request(1), response(status))[0][0] is Verdict.RETRY


def test_403_waf_block_is_permanent_with_the_answer() -> None:
    outcome = PROVIDER.classify(batch_request(1), response(403, {"code": 403, "error": "Forbidden"}))[0]
    assert outcome.verdict is Verdict.PERMANENT and "Forbidden" in (outcome.message or "")


def test_credentials_have_a_secret_key_and_a_region() -> None:
    assert AmplitudeCredentials.model_validate({"api_key": "k"}).region == "us"
    assert AmplitudeCredentials.secret_fields() == {"api_key"}
