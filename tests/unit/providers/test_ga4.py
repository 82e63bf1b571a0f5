from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.common import epoch_millis
from nimriz_destinations.providers.ga4 import PROVIDER, GA4Credentials
from nimriz_destinations.providers.measurement_protocol import MAX_BODY_BYTES, client_id, session_id
from nimriz_destinations.redaction import redact_secrets
from tests.provider_support import EVENT_TYPES, make_event, make_item, mapped, response

CREDENTIALS = {"measurement_id": "G-ABC123XYZ", "api_secret": "s3cr/et+key", "region": "global"}


def build(items: list[Any], credentials: dict[str, Any] | None = None, now: float | None = None) -> Any:
    return PROVIDER.build_requests(items, credentials or CREDENTIALS, now=time.time() if now is None else now)


def body(request: Any) -> dict[str, Any]:
    return json.loads(request.body)


# -- default mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("link.clicked", "link_click"),
        ("link.qr_scanned", "qr_scan"),
        ("card.viewed", "card_view"),
        ("card.link_clicked", "card_link_click"),
        ("conversion.lead", "generate_lead"),
        ("conversion.sale", "purchase"),
        ("conversion.refund", "refund"),
        ("conversion.cancellation", "refund"),
        ("conversion.reversal", "refund"),
    ],
)
def test_event_names_are_ga4_names(event_type: str, name: str) -> None:
    assert PROVIDER.default_payload(make_event(event_type))["name"] == name


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_maps_to_valid_ga4_names_and_params(event_type: str) -> None:
    payload = PROVIDER.default_payload(make_event(event_type))
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", payload["name"])
    assert len(payload["params"]) <= 25
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,39}", name) for name in payload["params"])


def test_an_unknown_event_type_gets_a_snake_case_name() -> None:
    event = make_event() | {"type": "link.previewed"}
    assert PROVIDER.default_payload(event)["name"] == "link_previewed"


def test_link_click_carries_link_campaign_referrer_and_click_id_params() -> None:
    event = make_event("link.clicked")
    params = PROVIDER.default_payload(event)["params"]
    assert params["link_id"] == event["link"]["url_id"]
    assert params["link_url"] == event["link"]["short_url"]
    assert params["link_domain"] == "go.example.com"
    assert (params["source"], params["medium"], params["campaign"], params["content"]) == (
        "instagram",
        "social",
        "spring_sale_2026",
        "story_1",
    )
    assert "term" not in params  # absent in the event: absent in the payload
    assert params["page_referrer"] == "https://www.instagram.com/"
    assert params["gclid"] == event["click_ids"]["gclid"]
    assert params["nimriz_event_id"] == event["id"]
    assert "transaction_id" not in params and "value" not in params


def test_timestamp_is_integer_microseconds_of_occurred_at() -> None:
    event = make_event()
    payload = PROVIDER.default_payload(event)
    assert isinstance(payload["timestamp_micros"], int)
    assert payload["timestamp_micros"] % 1000 == 0
    assert payload["timestamp_micros"] == epoch_millis(event) * 1000


def test_location_and_device_are_request_level_objects() -> None:
    payload = PROVIDER.default_payload(make_event())
    assert payload["user_location"] == {"country_id": "US", "region_id": "US-CA", "city": "San Francisco"}
    assert payload["device"] == {"category": "mobile", "operating_system": "iOS", "browser": "Safari"}


def test_client_id_has_the_ga_cookie_form_and_is_stable_per_visitor() -> None:
    first = PROVIDER.default_payload(make_event(visitor="a"))["client_id"]
    again = PROVIDER.default_payload(make_event(visitor="a", event_id="other"))["client_id"]
    other = PROVIDER.default_payload(make_event(visitor="b"))["client_id"]
    assert re.fullmatch(r"[1-9][0-9]{9}\.[1-9][0-9]{9}", first)
    assert first == again != other
    assert first == client_id("vh_a")


@pytest.mark.parametrize(
    "event_type",
    ["link.clicked", "link.qr_scanned", "card.viewed", "card.link_clicked", "conversion.lead", "conversion.sale"],
)
def test_visitor_interactions_carry_a_session_id_and_engagement_time(event_type: str) -> None:
    params = PROVIDER.default_payload(make_event(event_type, visitor="a"))["params"]
    assert (params["session_id"], params["engagement_time_msec"]) == (session_id("vh_a"), 1)
    assert list(params)[:2] == ["session_id", "engagement_time_msec"]  # first: kept when params are cut to 25


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.cancellation", "conversion.reversal"])
def test_refund_like_conversions_carry_the_session_but_no_engagement_time(event_type: str) -> None:
    params = PROVIDER.default_payload(make_event(event_type, visitor="a"))["params"]
    assert params["session_id"] == session_id("vh_a") and "engagement_time_msec" not in params


def test_the_session_id_is_stable_per_visitor_and_a_conversion_joins_its_clicks_session() -> None:
    click = PROVIDER.default_payload(make_event("link.clicked", visitor="a", event_id="e1"))["params"]
    sale = PROVIDER.default_payload(make_event("conversion.sale", visitor="a", event_id="e2"))["params"]
    other = PROVIDER.default_payload(make_event("link.clicked", visitor="b", event_id="e3"))["params"]
    assert click["session_id"] == sale["session_id"] != other["session_id"]
    assert re.fullmatch(r"[1-9][0-9]{9}", click["session_id"])
    assert click["session_id"] not in client_id("vh_a")


def test_strict_mode_sessions_are_per_click() -> None:
    event = make_event("link.clicked", privacy_mode="strict")
    assert mapped(PROVIDER, event)["params"]["session_id"] == session_id(event["visitor"]["click_id"])


def test_the_events_consent_becomes_ga4_consent() -> None:
    event = make_event("conversion.sale") | {"consent": {"ad_user_data": "granted", "ad_personalization": "denied"}}
    assert PROVIDER.default_payload(event)["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}
    only_user_data = make_event() | {"consent": {"ad_user_data": "denied"}}
    assert PROVIDER.default_payload(only_user_data)["consent"] == {"ad_user_data": "DENIED"}


@pytest.mark.parametrize("consent", [None, {}, {"ad_user_data": "yes"}, "granted"])
def test_no_or_unreadable_consent_sends_no_consent(consent: Any) -> None:
    event = make_event() if consent is None else make_event() | {"consent": consent}
    assert "consent" not in PROVIDER.default_payload(event)


def test_consent_is_request_level_so_events_with_different_consent_never_share_a_request() -> None:
    granted = make_event(visitor="a", event_id="e1") | {"consent": {"ad_user_data": "granted"}}
    denied = make_event(visitor="a", event_id="e2") | {"consent": {"ad_user_data": "denied"}}
    requests = build([make_item(PROVIDER, granted), make_item(PROVIDER, denied)]).requests
    assert sorted((request.items, body(request)["consent"]["ad_user_data"]) for request in requests) == [
        ((0,), "GRANTED"),
        ((1,), "DENIED"),
    ]


def test_purchase_has_value_currency_and_the_event_id_as_transaction_id() -> None:
    event = make_event("conversion.sale")
    params = PROVIDER.default_payload(event)["params"]
    assert (params["value"], params["currency"], params["transaction_id"]) == (49.9, "USD", event["id"])
    assert params["conversion_name"] == "Spring order"


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.cancellation", "conversion.reversal"])
def test_refund_like_conversions_refund_the_original_transaction(event_type: str) -> None:
    event = make_event(event_type)
    params = PROVIDER.default_payload(event)["params"]
    assert params["transaction_id"] == event["conversion"]["original_event_id"]
    assert params["conversion_outcome"] == event_type.removeprefix("conversion.")
    assert (params["value"], params["currency"]) == (49.9, "USD")


def test_lead_has_value_and_currency_but_no_transaction() -> None:
    params = PROVIDER.default_payload(make_event("conversion.lead"))["params"]
    assert (params["value"], params["currency"]) == (0, "USD")
    assert "transaction_id" not in params


def test_personal_data_is_not_forwarded_by_default() -> None:
    text = json.dumps(PROVIDER.default_payload(make_event("conversion.sale")))
    assert "jane.doe@example.com" not in text and "+14155550123" not in text


def test_strict_privacy_keeps_region_and_city_out_even_when_an_override_asks() -> None:
    event = make_event("link.clicked", privacy_mode="strict")
    payload = mapped(PROVIDER, event, [{"type": "include", "field": "context.city", "to": "params.city"}])
    assert payload["user_location"] == {"country_id": "US"}
    assert "city" not in payload["params"]
    assert payload["client_id"] == client_id(event["visitor"]["click_id"])
    assert "vh_" not in json.dumps(payload)


def test_overrides_apply_to_the_default_mapping() -> None:
    payload = mapped(
        PROVIDER,
        make_event(),
        [
            {"type": "static", "to": "params.engagement_time_msec", "value": 1},
            {"type": "rename", "from": "params.source", "to": "params.utm_source"},
        ],
    )
    assert payload["params"]["engagement_time_msec"] == 1
    assert payload["params"]["utm_source"] == "instagram" and "source" not in payload["params"]


def test_mapping_doc_covers_every_default_field() -> None:
    documented = {row[0] for row in PROVIDER.default_mapping_doc}
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    fields = {key for key in payload if not isinstance(payload[key], dict)}
    fields |= {f"{key}.{sub}" for key, value in payload.items() if isinstance(value, dict) for sub in value}
    assert fields <= documented


# -- requests --------------------------------------------------------------------------------------------------


def test_request_goes_to_the_global_collect_endpoint_with_credentials_in_the_query() -> None:
    (request,) = build([make_item(PROVIDER)]).requests
    url = urlsplit(request.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "www.google-analytics.com", "/mp/collect")
    assert parse_qs(url.query) == {"measurement_id": ["G-ABC123XYZ"], "api_secret": ["s3cr/et+key"]}
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"


def test_eu_region_uses_the_region1_host() -> None:
    (request,) = build([make_item(PROVIDER)], CREDENTIALS | {"region": "eu"}).requests
    assert urlsplit(request.url).netloc == "region1.google-analytics.com"


def test_the_api_secret_is_listed_for_redaction_and_leaves_no_trace_in_the_recorded_url() -> None:
    (request,) = build([make_item(PROVIDER)]).requests
    assert request.secrets == ("s3cr/et+key",)
    recorded = redact_secrets(request.url, request.secrets)  # it is URL-encoded there
    assert "s3cr" not in recorded and "G-ABC123XYZ" in recorded
    assert "s3cr" not in request.body.decode()


def test_body_has_request_level_fields_and_events_with_their_own_timestamps() -> None:
    item = make_item(PROVIDER)
    (request,) = build([item]).requests
    sent = body(request)
    assert sent["client_id"] == item.payload["client_id"]
    assert sent["user_location"] == item.payload["user_location"]
    assert sent["events"] == [
        {"name": "link_click", "params": item.payload["params"], "timestamp_micros": item.payload["timestamp_micros"]}
    ]
    assert request.items == (0,)


def test_string_param_values_are_cut_to_100_characters_at_send() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": "params.note", "value": "x" * 150}])
    (request,) = build([item]).requests
    assert body(request)["events"][0]["params"]["note"] == "x" * 100


def delivered_message(item: Any) -> str | None:
    (request,) = build([item]).requests
    outcome = PROVIDER.classify(request, response(204))[0]
    assert outcome.verdict is Verdict.DELIVERED
    return outcome.message


def test_a_cut_param_value_is_reported_in_the_delivered_outcome() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": "params.note", "value": "x" * 150}])
    assert delivered_message(item) == "truncated to GA4's limits: param values cut to 100 characters: note"


def test_an_untouched_event_is_delivered_without_a_message() -> None:
    (request,) = build([make_item(PROVIDER)]).requests
    assert request.adjustments == () and delivered_message(make_item(PROVIDER)) is None


def test_an_event_name_over_40_characters_is_cut_and_reported() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": "name", "value": "n" * 45}])
    (request,) = build([item]).requests
    assert body(request)["events"][0]["name"] == "n" * 40
    assert delivered_message(item) == "truncated to GA4's limits: event name cut to 40 characters"


def test_param_names_over_40_characters_are_cut_and_reported() -> None:
    long_name = "p" * 45
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": f"params.{long_name}", "value": 1}])
    (request,) = build([item]).requests
    params = body(request)["events"][0]["params"]
    assert params["p" * 40] == 1 and long_name not in params
    assert delivered_message(item) == f"truncated to GA4's limits: param names cut to 40 characters: {'p' * 40}"


def test_params_past_the_25th_are_dropped_keeping_session_and_engagement_and_reported() -> None:
    extra = [{"type": "static", "to": f"params.extra_{n}", "value": n} for n in range(10)]
    item = make_item(PROVIDER, make_event("conversion.sale"), overrides=extra)
    mapped_names = list(item.payload["params"])
    assert len(mapped_names) > 25
    (request,) = build([item]).requests
    params = body(request)["events"][0]["params"]
    assert list(params) == mapped_names[:25]
    assert {"session_id", "engagement_time_msec", "transaction_id", "value", "currency"} <= set(params)
    dropped = mapped_names[25:]
    listed = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
    assert (
        delivered_message(item)
        == f"truncated to GA4's limits: params past the 25th (or repeating a cut name) dropped: {listed}"
    )


def test_user_properties_are_cut_to_ga4s_limits_and_reported() -> None:
    overrides = [{"type": "static", "to": f"user_properties.prop_{n}.value", "value": f"v{n}"} for n in range(25)] + [
        {"type": "static", "to": f"user_properties.{'u' * 30}.value", "value": "w" * 50},
    ]
    overrides[0] = {"type": "static", "to": "user_properties.prop_0.value", "value": "z" * 40}
    item = make_item(PROVIDER, overrides=overrides)
    (request,) = build([item]).requests
    sent = body(request)["user_properties"]
    assert len(sent) == 25 and sent["prop_0"] == {"value": "z" * 36} and "u" * 24 not in sent
    assert delivered_message(item) == (
        "truncated to GA4's limits: user property values cut to 36 characters: prop_0; "
        f"user properties past the 25th (or repeating a cut name) dropped: {'u' * 24}"
    )


def test_a_user_property_name_over_24_characters_is_cut() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": f"user_properties.{'t' * 30}.value", "value": "x"}])
    (request,) = build([item]).requests
    assert body(request)["user_properties"] == {"t" * 24: {"value": "x"}}
    assert "user property names cut to 24 characters" in (delivered_message(item) or "")


def test_a_validated_test_send_reports_its_cuts_too() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": "params.note", "value": "x" * 150}], reason="test")
    (request,) = build([item]).requests
    outcome = PROVIDER.classify(request, response(200, {"validationMessages": []}))[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert outcome.message == (
        "validated by the GA4 validation server (test sends do not appear in reports); "
        "truncated to GA4's limits: param values cut to 100 characters: note"
    )


def test_a_failed_send_of_a_cut_event_keeps_the_failure() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": "params.note", "value": "x" * 150}])
    (request,) = build([item]).requests
    assert PROVIDER.classify(request, response(503))[0].verdict is Verdict.RETRY


# -- batching --------------------------------------------------------------------------------------------------


def test_events_of_one_visitor_share_requests_of_at_most_25() -> None:
    items = [make_item(PROVIDER, make_event(visitor="a", event_id=f"e{i}")) for i in range(26)]
    requests = build(items).requests
    assert [len(request.items) for request in requests] == [25, 1]
    assert [len(body(request)["events"]) for request in requests] == [25, 1]
    assert sorted(p for request in requests for p in request.items) == list(range(26))


def test_events_of_different_visitors_never_share_a_request() -> None:
    items = [make_item(PROVIDER, make_event(visitor=v, event_id=f"e{i}")) for i, v in enumerate("abab")]
    requests = build(items).requests
    assert sorted(request.items for request in requests) == [(0, 2), (1, 3)]
    assert {body(request)["client_id"] for request in requests} == {client_id("vh_a"), client_id("vh_b")}


def test_bodies_stay_under_130_kb() -> None:
    # `items` is GA4's one list-valued param; three 3.8 kB lists make each event about 12 kB.
    line_items = [{"item_id": "y" * 80} for _ in range(40)]
    bulky = [{"type": "static", "to": f"params.items{n}", "value": line_items} for n in range(3)]
    items = [make_item(PROVIDER, make_event(event_id=f"e{i}"), overrides=bulky) for i in range(25)]
    requests = build(items).requests
    assert len(requests) > 1
    assert all(len(request.body) <= MAX_BODY_BYTES for request in requests)
    assert sum(len(request.items) for request in requests) == 25


def test_test_sends_go_to_the_validation_server_apart_from_live_events() -> None:
    live = make_item(PROVIDER, make_event(event_id="e1"))
    test = make_item(PROVIDER, make_event(event_id="e2"), reason="test")
    requests = build([live, test]).requests
    paths = {request.items: urlsplit(request.url).path for request in requests}
    assert paths == {(0,): "/mp/collect", (1,): "/debug/mp/collect"}


# -- refusals --------------------------------------------------------------------------------------------------


def test_an_event_without_client_id_is_skipped_not_sent() -> None:
    item = make_item(PROVIDER, overrides=[{"type": "exclude", "field": "client_id"}])
    built = build([item, make_item(PROVIDER)])
    assert built.skipped[0].verdict is Verdict.SKIPPED and built.skipped[0].error_class == "missing_identifier"
    assert [request.items for request in built.requests] == [(1,)]


def test_an_event_without_name_is_skipped() -> None:
    built = build([make_item(PROVIDER, overrides=[{"type": "exclude", "field": "name"}])])
    assert built.skipped[0].error_class == "missing_event_name" and not built.requests


def test_events_older_than_72_hours_are_skipped_younger_ones_sent() -> None:
    old = make_item(PROVIDER, make_event(age_seconds=72 * 3600 + 60))
    recent = make_item(PROVIDER, make_event(age_seconds=71 * 3600))
    built = build([old, recent])
    assert built.skipped[0].error_class == "event_too_old" and "72 hours" in (built.skipped[0].message or "")
    assert [request.items for request in built.requests] == [(1,)]


# -- classification --------------------------------------------------------------------------------------------


def collect_request() -> Any:
    return build([make_item(PROVIDER)]).requests[0]


def validation_request() -> Any:
    return build([make_item(PROVIDER, reason="test")]).requests[0]


def test_any_2xx_from_collect_is_delivered() -> None:
    assert PROVIDER.classify(collect_request(), response(204))[0].verdict is Verdict.DELIVERED


def test_a_429_is_throttled_on_our_schedule() -> None:
    # GA4 documents no 429 ("always returns a 2xx status code if the HTTP request was received"), so no wait either.
    outcome = PROVIDER.classify(collect_request(), response(429))[0]
    assert (outcome.verdict, outcome.throttled, outcome.retry_after) == (Verdict.RETRY, True, None)


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_and_timeouts_are_retried(status: int) -> None:
    assert PROVIDER.classify(collect_request(), response(status))[0].verdict is Verdict.RETRY


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_client_errors_are_permanent(status: int) -> None:
    assert PROVIDER.classify(collect_request(), response(status))[0].verdict is Verdict.PERMANENT


def test_validation_without_messages_is_delivered_as_validated() -> None:
    outcome = PROVIDER.classify(validation_request(), response(200, {"validationMessages": []}))[0]
    assert outcome.verdict is Verdict.DELIVERED and "validated" in (outcome.message or "")


def test_validation_messages_make_the_test_send_permanent_with_the_messages() -> None:
    messages = [
        {
            "fieldPath": "events",
            "description": "Event at index: [0] has invalid name [_bad].",
            "validationCode": "NAME_INVALID",
        }
    ]
    outcome = PROVIDER.classify(validation_request(), response(200, {"validationMessages": messages}))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "ga4_validation_failed")
    assert outcome.message == "events: Event at index: [0] has invalid name [_bad]. (NAME_INVALID)"


def test_an_unreadable_validation_answer_is_a_permanent_invalid_response() -> None:
    outcome = PROVIDER.classify(validation_request(), response(200, "<html>oops</html>"))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "invalid_response")


def test_a_validation_server_outage_is_retried() -> None:
    assert PROVIDER.classify(validation_request(), response(503))[0].verdict is Verdict.RETRY


# -- credentials -----------------------------------------------------------------------------------------------


def test_credentials_require_a_g_measurement_id_and_a_known_region() -> None:
    assert GA4Credentials.model_validate({"measurement_id": "G-ABC123", "api_secret": "x"}).region == "global"
    with pytest.raises(ValidationError):
        GA4Credentials.model_validate({"measurement_id": "UA-1234-1", "api_secret": "x"})
    with pytest.raises(ValidationError):
        GA4Credentials.model_validate({"measurement_id": "G-ABC123", "api_secret": "x", "region": "us"})
    assert GA4Credentials.secret_fields() == {"api_secret"}
