from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.common import HUMAN_EVENT_NAMES
from nimriz_destinations.providers.posthog import MAX_BODY_BYTES, PROVIDER, PostHogCredentials
from tests.provider_support import EVENT_TYPES, make_event, make_item, mapped, response

API_KEY = "phc_test_key_0123456789"
CREDENTIALS = {"api_key": API_KEY, "host": "https://eu.i.posthog.com"}


def build(items: list[Any], credentials: dict[str, Any] | None = None) -> Any:
    return PROVIDER.build_requests(items, credentials or CREDENTIALS, now=time.time())


def one_request(size: int = 1) -> Any:
    items = [make_item(PROVIDER, make_event(event_id=f"evt-{i}")) for i in range(size)]
    (request,) = build(items).requests
    return request


# -- default mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_event_names_are_human_names(event_type: str) -> None:
    assert PROVIDER.default_payload(make_event(event_type))["event"] == HUMAN_EVENT_NAMES[event_type]


def test_identity_timestamp_and_uuid() -> None:
    event = make_event()
    payload = PROVIDER.default_payload(event)
    assert payload["distinct_id"] == event["visitor"]["visitor_hash"]
    assert payload["timestamp"] == event["occurred_at"]
    assert payload["uuid"] == event["id"]


def test_a_non_uuid_event_id_becomes_a_stable_derived_uuid() -> None:
    first = PROVIDER.default_payload(make_event(event_id="evt_123"))["uuid"]
    assert uuid.UUID(first).version == 5
    assert first == PROVIDER.default_payload(make_event(event_id="evt_123"))["uuid"]
    assert first != PROVIDER.default_payload(make_event(event_id="evt_124"))["uuid"]


def test_properties_use_posthog_names_and_stay_anonymous_without_server_geoip() -> None:
    event = make_event("link.clicked")
    properties = PROVIDER.default_payload(event)["properties"]
    assert (properties["$geoip_country_code"], properties["$geoip_subdivision_1_code"]) == ("US", "CA")
    assert properties["$geoip_city_name"] == "San Francisco"
    assert (properties["$browser"], properties["$os"]) == ("Safari", "iOS")
    assert (properties["$referrer"], properties["$referring_domain"]) == (
        "https://www.instagram.com/",
        "www.instagram.com",
    )
    assert properties["utm_source"] == "instagram" and properties["short_url"] == event["link"]["short_url"]
    assert properties["$process_person_profile"] is False and properties["$geoip_disable"] is True
    assert not {"country", "city", "region", "browser_family", "os_family", "referrer"} & properties.keys()


@pytest.mark.parametrize(("event_type", "revenue"), [("conversion.sale", 49.9), ("conversion.refund", -49.9)])
def test_conversions_carry_signed_revenue_value_and_currency(event_type: str, revenue: float) -> None:
    properties = PROVIDER.default_payload(make_event(event_type))["properties"]
    assert (properties["revenue"], properties["value"], properties["currency"]) == (revenue, 49.9, "USD")


def test_a_lead_has_no_revenue() -> None:
    assert "revenue" not in PROVIDER.default_payload(make_event("conversion.lead"))["properties"]


def test_strict_privacy_keeps_city_region_and_visitor_hash_out_even_with_a_template() -> None:
    event = make_event(privacy_mode="strict")
    payload = mapped(
        PROVIDER,
        event,
        [{"type": "template", "to": "properties.where", "template": "{{context.city}}/{{context.region}}"}],
    )
    assert payload["distinct_id"] == event["visitor"]["click_id"]
    assert payload["properties"]["where"] == "/"
    assert "$geoip_city_name" not in payload["properties"]
    assert "$geoip_subdivision_1_code" not in payload["properties"]


def test_mapping_doc_covers_every_default_field() -> None:
    documented = {row[0] for row in PROVIDER.default_mapping_doc}
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    fields = {key for key in payload if key != "properties"} | {f"properties.{k}" for k in payload["properties"]}
    assert fields <= documented


# -- requests and batching -------------------------------------------------------------------------------------


def test_batches_go_to_the_configured_host_with_the_key_in_the_body() -> None:
    item = make_item(PROVIDER)
    (request,) = build([item], CREDENTIALS | {"host": "https://posthog.example.com/"}).requests
    assert request.url == "https://posthog.example.com/batch/"
    assert json.loads(request.body) == {"api_key": API_KEY, "batch": [item.payload]}
    assert API_KEY in request.secrets and request.headers == {"Content-Type": "application/json"}


def test_the_host_defaults_to_us_cloud() -> None:
    (request,) = build([make_item(PROVIDER)], {"api_key": API_KEY}).requests
    assert request.url == "https://us.i.posthog.com/batch/"


def test_a_mapped_uuid_that_is_not_a_uuid_is_replaced_by_a_stable_derived_one() -> None:
    override = [{"type": "template", "to": "uuid", "template": "{{link.short_code}}-{{id}}"}]
    first = json.loads(build([make_item(PROVIDER, overrides=override)]).requests[0].body)["batch"][0]["uuid"]
    again = json.loads(build([make_item(PROVIDER, overrides=override)]).requests[0].body)["batch"][0]["uuid"]
    assert uuid.UUID(first) and first == again


def test_requests_carry_at_most_1000_events() -> None:
    item = make_item(PROVIDER)
    assert [len(request.items) for request in build([item] * 1001).requests] == [1000, 1]


def test_bodies_stay_under_the_5_mib_cap() -> None:
    bulky = [{"type": "include", "field": "utm.content", "to": f"properties.blob{n}"} for n in range(10)]
    event = make_event()
    event["utm"]["content"] = "q" * 4000
    item = make_item(PROVIDER, event, overrides=bulky)
    requests = build([item] * 200).requests
    assert len(requests) == 2 and all(len(request.body) <= MAX_BODY_BYTES for request in requests)


# -- replays of old events: historical_migration ----------------------------------------------------------------

DAY = 24 * 3600


def body_of(request: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.body)
    return body


@pytest.mark.parametrize("reason", ["replay", "retry"])
def test_a_replay_of_an_event_over_a_day_old_is_sent_as_a_historical_migration(reason: str) -> None:
    item = make_item(PROVIDER, make_event(age_seconds=DAY + 60), reason=reason)
    (request,) = build([item]).requests
    assert body_of(request) == {"api_key": API_KEY, "historical_migration": True, "batch": [item.payload]}


@pytest.mark.parametrize(
    ("reason", "age_seconds"),
    [("replay", DAY - 60), ("retry", 60), ("live", 3 * DAY), ("test", 3 * DAY)],
)
def test_live_sends_tests_and_recent_replays_are_not_historical(reason: str, age_seconds: float) -> None:
    (request,) = build([make_item(PROVIDER, make_event(age_seconds=age_seconds), reason=reason)]).requests
    assert "historical_migration" not in body_of(request)


def test_replays_and_live_events_go_in_separate_requests() -> None:
    old = make_event(event_id="old", age_seconds=2 * DAY)
    items = [
        make_item(PROVIDER, make_event(event_id="live-0")),
        make_item(PROVIDER, old, reason="replay"),
        make_item(PROVIDER, make_event(event_id="live-2")),
        make_item(PROVIDER, old, reason="retry"),
    ]
    live, historical = build(items).requests
    assert (live.items, historical.items) == ((0, 2), (1, 3))
    assert "historical_migration" not in body_of(live)
    assert body_of(historical)["historical_migration"] is True


def test_age_is_the_events_occurred_at_not_a_mapped_timestamp() -> None:
    override = [{"type": "static", "to": "timestamp", "value": "2020-01-01T00:00:00.000Z"}]
    recent = make_item(PROVIDER, make_event(), overrides=override, reason="replay")
    (request,) = build([recent]).requests
    assert "historical_migration" not in body_of(request)


def test_events_posthog_would_drop_are_skipped() -> None:
    no_name = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "event"}])
    empty_id = make_item(PROVIDER, overrides=[{"type": "static", "to": "distinct_id", "value": ""}])
    nested_id = make_item(
        PROVIDER,
        overrides=[
            {"type": "rename", "from": "distinct_id", "to": "properties.distinct_id"},
        ],
    )
    built = build([no_name, empty_id, nested_id])
    assert {p: o.error_class for p, o in built.skipped.items()} == {0: "missing_event_name", 1: "missing_identifier"}
    assert [request.items for request in built.requests] == [(2,)]


# -- classification --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"status": 1}, {"status": "Ok"}, ""])
def test_200_is_delivered(body: Any) -> None:
    assert PROVIDER.classify(one_request(), response(200, body))[0].verdict is Verdict.DELIVERED


def test_a_200_reporting_quota_limited_is_a_permanent_failure() -> None:
    result = PROVIDER.classify(one_request(2), response(200, {"status": "Ok", "quota_limited": ["events"]}))
    assert {(o.verdict, o.error_class) for o in result.values()} == {(Verdict.PERMANENT, "posthog_quota_limited")}
    assert "billing limit" in (result[0].message or "")


def test_a_429_for_the_billing_limit_is_permanent_other_429s_are_throttled_on_our_schedule() -> None:
    billing = PROVIDER.classify(one_request(), response(429, "billing limit reached"))[0]
    assert (billing.verdict, billing.error_class) == (Verdict.PERMANENT, "posthog_quota_limited")
    throttled = PROVIDER.classify(one_request(), response(429, "rate limited"))[0]
    assert (throttled.verdict, throttled.throttled, throttled.retry_after) == (Verdict.RETRY, True, None)


@pytest.mark.parametrize(
    "answer",
    [
        response(400, {"type": "validation_error", "code": "invalid_payload", "detail": "Malformed request data"}),
        response(
            401, {"type": "authentication_error", "code": "invalid_api_key", "detail": "Project API key invalid."}
        ),
    ],
)
def test_invalid_payloads_and_keys_are_permanent_with_the_answer(answer: Any) -> None:
    outcome = PROVIDER.classify(one_request(), answer)[0]
    assert outcome.verdict is Verdict.PERMANENT
    assert f"answered {answer.status}" in (outcome.message or "")


def test_an_error_echoing_the_key_does_not_put_it_in_the_record() -> None:
    outcome = PROVIDER.classify(one_request(), response(401, f"bad key {API_KEY}"))[0]
    assert API_KEY not in (outcome.message or "")


def test_413_fails_a_lone_event_and_refuses_a_batchs_events_together() -> None:
    assert PROVIDER.classify(one_request(1), response(413))[0].verdict is Verdict.PERMANENT
    batch = PROVIDER.classify(one_request(2), response(413)).values()
    assert {(o.verdict, o.resend_now) for o in batch} == {(Verdict.PERMANENT, True)}


@pytest.mark.parametrize("status", [408, 500, 502, 503])
def test_timeouts_and_server_errors_are_retried(status: int) -> None:
    assert PROVIDER.classify(one_request(), response(status))[0].verdict is Verdict.RETRY


def test_the_host_must_be_a_plain_base_url() -> None:
    assert PostHogCredentials.model_validate({"api_key": "k"}).host == "https://us.i.posthog.com"
    assert PostHogCredentials.model_validate({"api_key": "k", "host": "https://ph.example.com/"}).host == (
        "https://ph.example.com"
    )
    with pytest.raises(ValidationError):
        PostHogCredentials.model_validate({"api_key": "k", "host": "https://ph.example.com/?token=1"})
    assert PROVIDER.url_fields == ("host",)
