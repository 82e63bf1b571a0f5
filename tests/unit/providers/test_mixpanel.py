from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.common import HUMAN_EVENT_NAMES, epoch_millis
from nimriz_destinations.providers.mixpanel import MAX_IMPORT_BYTES, PROVIDER, MixpanelCredentials, insert_id
from tests.provider_support import EVENT_TYPES, make_event, make_item, mapped, response

TOKEN = "mp_token_0123456789"
TOKEN_ONLY = {"project_token": TOKEN, "region": "us"}
IMPORT = TOKEN_ONLY | {
    "project_id": "123456",
    "service_account_username": "sa.user",
    "service_account_secret": "sa-s3cret",
}


def build(items: list[Any], credentials: dict[str, Any]) -> Any:
    return PROVIDER.build_requests(items, credentials, now=time.time())


def sent_events(request: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(request.body)
    return events


def one_request(credentials: dict[str, Any], size: int = 1) -> Any:
    items = [make_item(PROVIDER, make_event(event_id=f"evt-{i}")) for i in range(size)]
    (request,) = build(items, credentials).requests
    return request


# -- default mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_event_names_are_human_names(event_type: str) -> None:
    assert PROVIDER.default_payload(make_event(event_type))["event"] == HUMAN_EVENT_NAMES[event_type]


def test_identity_time_and_insert_id() -> None:
    event = make_event()
    properties = PROVIDER.default_payload(event)["properties"]
    visitor = event["visitor"]["visitor_hash"]
    assert (properties["$device_id"], properties["distinct_id"]) == (visitor, f"$device:{visitor}")
    assert isinstance(properties["time"], int) and properties["time"] == epoch_millis(event)
    assert properties["$insert_id"] == event["id"]


def test_an_event_id_that_does_not_fit_insert_id_rules_is_derived_stably() -> None:
    long_id = "evt_" + "x" * 40
    derived = insert_id(long_id)
    assert re.fullmatch(r"[A-Za-z0-9-]{36}", derived) and derived == insert_id(long_id)
    assert insert_id("0f8fad5b-d9cb-469f-a165-70867728950e") == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert PROVIDER.default_payload(make_event(event_id=long_id))["properties"]["$insert_id"] == derived


def test_properties_use_mixpanel_reserved_names_for_location_browser_os_and_referrer() -> None:
    event = make_event()
    properties = PROVIDER.default_payload(event)["properties"]
    assert (properties["mp_country_code"], properties["$region"], properties["$city"]) == ("US", "CA", "San Francisco")
    assert (properties["$browser"], properties["$os"]) == ("Safari", "iOS")
    assert properties["$referrer"] == "https://www.instagram.com/"
    assert properties["$referring_domain"] == "www.instagram.com"
    assert properties["utm_campaign"] == "spring_sale_2026" and properties["url_id"] == event["link"]["url_id"]
    assert "token" not in properties


@pytest.mark.parametrize(
    ("event_type", "revenue"),
    [("conversion.sale", 49.9), ("conversion.cancellation", -49.9), ("conversion.reversal", -49.9)],
)
def test_conversions_carry_signed_revenue(event_type: str, revenue: float) -> None:
    properties = PROVIDER.default_payload(make_event(event_type))["properties"]
    assert (properties["revenue"], properties["currency"], properties["conversion_name"]) == (
        revenue,
        "USD",
        "Spring order",
    )


def test_strict_privacy_keeps_city_region_and_visitor_hash_out_even_with_an_include() -> None:
    event = make_event(privacy_mode="strict")
    payload = mapped(PROVIDER, event, [{"type": "include", "field": "context.city", "to": "properties.$city"}])
    properties = payload["properties"]
    assert "$city" not in properties and "$region" not in properties
    assert properties["$device_id"] == event["visitor"]["click_id"]


def test_mapping_doc_covers_every_default_field() -> None:
    documented = {row[0] for row in PROVIDER.default_mapping_doc}
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    assert {"event"} | {f"properties.{name}" for name in payload["properties"]} <= documented


# -- /import (service account) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "host"), [("us", "api.mixpanel.com"), ("eu", "api-eu.mixpanel.com"), ("in", "api-in.mixpanel.com")]
)
def test_a_service_account_imports_strictly_with_basic_auth(region: str, host: str) -> None:
    request = one_request(IMPORT | {"region": region})
    url = urlsplit(request.url)
    assert (url.netloc, url.path) == (host, "/import")
    assert parse_qs(url.query) == {"strict": ["1"], "project_id": ["123456"], "ip": ["0"]}
    basic = base64.b64encode(b"sa.user:sa-s3cret").decode()
    assert request.headers == {"Content-Type": "application/json", "Authorization": f"Basic {basic}"}
    assert {"sa.user", "sa-s3cret", basic} <= set(request.secrets)
    assert TOKEN not in request.body.decode()


def test_import_keeps_time_in_milliseconds_and_sends_old_events() -> None:
    item = make_item(PROVIDER, make_event(age_seconds=30 * 24 * 3600))
    (request,) = build([item], IMPORT).requests
    assert sent_events(request)[0]["properties"]["time"] == item.payload["properties"]["time"] > 10**12


def test_import_batches_hold_2000_events_within_10_mb() -> None:
    item = make_item(PROVIDER)
    requests = build([item] * 2001, IMPORT).requests
    assert [len(request.items) for request in requests] == [2000, 1]
    assert all(len(request.body) <= MAX_IMPORT_BYTES for request in requests)


# -- /import with the project token (no service account) --------------------------------------------------------


def test_without_a_service_account_events_are_imported_with_the_project_token_as_basic_username() -> None:
    item = make_item(PROVIDER)
    (request,) = build([item], TOKEN_ONLY).requests
    url = urlsplit(request.url)
    assert (url.netloc, url.path, parse_qs(url.query)) == (
        "api.mixpanel.com",
        "/import",
        {"strict": ["1"], "ip": ["0"]},
    )
    basic = base64.b64encode(f"{TOKEN}:".encode()).decode()
    assert request.headers == {"Content-Type": "application/json", "Authorization": f"Basic {basic}"}
    assert {TOKEN, basic} <= set(request.secrets)
    (event,) = sent_events(request)
    assert "token" not in event["properties"] and TOKEN not in request.body.decode()
    assert event["properties"]["time"] == item.payload["properties"]["time"] > 10**12  # milliseconds, as mapped


def test_an_event_older_than_5_days_is_sent_to_import_with_the_project_token() -> None:
    old = make_item(PROVIDER, make_event(event_id="old", age_seconds=10 * 24 * 3600))
    built = build([old, make_item(PROVIDER)], TOKEN_ONLY)
    assert built.skipped == {}
    (request,) = built.requests
    assert urlsplit(request.url).path == "/import" and request.items == (0, 1)
    assert sent_events(request)[0]["properties"]["$insert_id"] == "old"


def test_no_event_goes_to_track() -> None:
    for credentials in (TOKEN_ONLY, IMPORT):
        (request,) = build([make_item(PROVIDER, make_event(age_seconds=60))], credentials).requests
        assert urlsplit(request.url).path == "/import"


# -- mapped payload rules --------------------------------------------------------------------------------------


def test_a_removed_insert_id_is_restored_and_an_invalid_one_derived() -> None:
    removed = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "properties.$insert_id"}])
    invalid = make_item(PROVIDER, overrides=[{"type": "static", "to": "properties.$insert_id", "value": "a b/c"}])
    first, second = sent_events(build([removed, invalid], IMPORT).requests[0])
    assert first["properties"]["$insert_id"] == removed.event["id"]
    assert second["properties"]["$insert_id"] == insert_id("a b/c") != "a b/c"


def test_events_mixpanel_would_reject_are_skipped() -> None:
    no_name = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "event"}])
    no_identity = make_item(
        PROVIDER,
        overrides=[
            {"type": "exclude", "field": "properties.distinct_id"},
            {"type": "exclude", "field": "properties.$device_id"},
        ],
    )
    device_only = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "properties.distinct_id"}])
    built = build([no_name, no_identity, device_only], IMPORT)
    assert {p: o.error_class for p, o in built.skipped.items()} == {0: "missing_event_name", 1: "missing_identifier"}
    assert [request.items for request in built.requests] == [(2,)]


# -- classification --------------------------------------------------------------------------------------------


def test_import_200_is_delivered() -> None:
    answer = response(200, {"code": 200, "num_records_imported": 2, "status": "OK"})
    assert {o.verdict for o in PROVIDER.classify(one_request(IMPORT, 2), answer).values()} == {Verdict.DELIVERED}


def test_import_400_fails_only_the_listed_records_the_rest_were_imported() -> None:
    answer = response(
        400,
        {
            "code": 400,
            "error": "some data points in the request failed validation",
            "num_records_imported": 2,
            "failed_records": [
                {"index": 1, "insert_id": "x", "field": "properties.time", "message": "'properties.time' is invalid"}
            ],
        },
    )
    result = PROVIDER.classify(one_request(IMPORT, 3), answer)
    assert {p: o.verdict for p, o in result.items()} == {
        0: Verdict.DELIVERED,
        1: Verdict.PERMANENT,
        2: Verdict.DELIVERED,
    }
    assert result[1].message == "properties.time: 'properties.time' is invalid"


def test_import_400_without_failed_records_is_permanent_for_all() -> None:
    result = PROVIDER.classify(one_request(IMPORT, 2), response(400, {"code": 400, "error": "invalid JSON"}))
    assert {o.verdict for o in result.values()} == {Verdict.PERMANENT}


def test_a_failed_record_echoing_the_token_does_not_put_it_in_the_record() -> None:
    answer = response(
        400,
        {"code": 400, "failed_records": [{"index": 0, "insert_id": "x", "field": "event", "message": f"bad {TOKEN}"}]},
    )
    outcome = PROVIDER.classify(one_request(TOKEN_ONLY), answer)[0]
    assert outcome.verdict is Verdict.PERMANENT and TOKEN not in (outcome.message or "")


@pytest.mark.parametrize("credentials", [IMPORT, TOKEN_ONLY])
def test_401_and_403_are_permanent(credentials: dict[str, Any]) -> None:
    for status in (401, 403):
        assert PROVIDER.classify(one_request(credentials), response(status))[0].verdict is Verdict.PERMANENT


def test_429_is_throttled_for_mixpanels_rolling_minute() -> None:
    body = {"code": 429, "error": "Project exceeded rate limits.", "status": "Too Many Requests"}
    outcome = PROVIDER.classify(one_request(IMPORT), response(429, body))[0]
    assert (outcome.verdict, outcome.throttled, outcome.retry_after) == (Verdict.RETRY, True, 60.0)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(status: int) -> None:
    assert PROVIDER.classify(one_request(IMPORT), response(status))[0].verdict is Verdict.RETRY


def test_413_fails_a_lone_event_and_refuses_a_batchs_events_together() -> None:
    assert PROVIDER.classify(one_request(IMPORT, 1), response(413))[0].verdict is Verdict.PERMANENT
    batch = PROVIDER.classify(one_request(IMPORT, 2), response(413)).values()
    assert {(o.verdict, o.resend_now) for o in batch} == {(Verdict.PERMANENT, True)}


def test_a_partial_service_account_is_rejected() -> None:
    with pytest.raises(ValidationError):
        MixpanelCredentials.model_validate({"project_token": "t", "project_id": "1"})
    assert MixpanelCredentials.secret_fields() == {
        "project_token",
        "service_account_username",
        "service_account_secret",
    }
