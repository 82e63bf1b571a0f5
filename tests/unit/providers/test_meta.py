"""Meta Conversions API adapter: mapping, identifiers and hashing, batching, test sends, classification."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimriz_destinations.providers.base import DeliveryItem, OutboundRequest, Outcome, ProviderResponse, Verdict
from nimriz_destinations.providers.common import sha256_hex
from nimriz_destinations.providers.meta import GRAPH_API_VERSION, MAX_EVENTS_PER_REQUEST, PROVIDER, MetaCredentials
from tests import provider_support

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKEN = "EAAB-meta-system-user-token-9f3a"
CREDENTIALS: dict[str, Any] = {"pixel_id": "1234567890", "access_token": TOKEN}
EMAIL_HASH = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com
PHONE_HASH = "413ba75461ab5f99d36820e561ea97e2bd80f9cb586f7ecea6cf4c496518950a"  # 14155550123


def make_event(event_type: str = "conversion.lead", *, occurred: datetime = NOW, **conversion: Any) -> dict[str, Any]:
    click_ids = conversion.pop("click_ids", None)
    return provider_support.conversion_event(event_type, now=occurred, click_ids=click_ids, **conversion)


def make_item(
    event: dict[str, Any], reason: str = "live", overrides: list[dict[str, Any]] | None = None, base: str = "default"
) -> DeliveryItem:
    return provider_support.make_item(PROVIDER, event, overrides=overrides or (), reason=reason, base=base)


def build(items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS) -> Any:
    return PROVIDER.build_requests(items, credentials, now=NOW.timestamp())


def sent_events(request: OutboundRequest) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(request.body)["data"]
    return events


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> ProviderResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return ProviderResponse(status, headers or {}, raw)


def one_request(count: int = 1) -> OutboundRequest:
    (request,) = build([make_item(make_event()) for _ in range(count)]).requests
    return request


# -- default mapping ------------------------------------------------------------------------------------------


def test_lead_maps_to_meta_lead_with_time_in_seconds_and_the_event_id_as_dedup_key() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.lead"))
    assert payload["event_name"] == "Lead"
    assert payload["event_time"] == int(NOW.timestamp())
    assert payload["event_id"] == "evt_1"
    assert payload["event_source_url"] == "https://shop.example.com/collections/spring"
    assert "custom_data" not in payload  # the sample lead's value 0 means "no revenue given"


def test_sale_maps_to_purchase_with_value_and_currency() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    assert payload["event_name"] == "Purchase"
    assert payload["custom_data"] == {"value": 49.9, "currency": "USD"}


def test_a_sale_of_zero_keeps_its_value_because_meta_requires_one_on_purchase() -> None:
    payload = PROVIDER.default_payload(make_event("conversion.sale", value=0))
    assert payload["custom_data"] == {"value": 0, "currency": "USD"}


def test_email_and_phone_are_normalised_then_hashed_the_way_meta_specifies() -> None:
    payload = PROVIDER.default_payload(make_event(email="  Jane.Doe@Example.COM ", phone="+1 (415) 555-0123"))
    assert payload["user_data"]["em"] == [EMAIL_HASH]
    assert payload["user_data"]["ph"] == [PHONE_HASH]


def test_phone_with_the_00_international_prefix_hashes_like_the_plus_form() -> None:
    payload = PROVIDER.default_payload(make_event(phone="0014155550123"))
    assert payload["user_data"]["ph"] == [PHONE_HASH]


def test_fbc_is_built_from_the_fbclid_with_the_event_time_in_milliseconds() -> None:
    payload = PROVIDER.default_payload(make_event(click_ids={"fbclid": "IwAR2-CaseSensitive_x"}))
    assert payload["user_data"]["fbc"] == f"fb.1.{int(NOW.timestamp() * 1000)}.IwAR2-CaseSensitive_x"


def test_unusable_contact_values_are_left_out_not_hashed() -> None:
    payload = PROVIDER.default_payload(make_event(email="not an email", phone="12", click_ids={"fbclid": "IwAR"}))
    user_data = payload["user_data"]
    assert "fbc" in user_data
    assert "em" not in user_data and "ph" not in user_data


def test_no_visitor_id_is_sent_as_external_id_by_default() -> None:
    assert "external_id" not in PROVIDER.default_payload(make_event())["user_data"]


# -- match quality: location keys and action_source --------------------------------------------------------------


def test_country_city_and_state_are_sent_hashed_in_metas_normalised_form() -> None:
    user_data = PROVIDER.default_payload(make_event())["user_data"]  # the sample: US, CA, San Francisco
    assert user_data["country"] == [sha256_hex("us")]
    assert user_data["ct"] == [sha256_hex("sanfrancisco")]
    assert user_data["st"] == [sha256_hex("ca")]


@pytest.mark.parametrize(
    ("country", "region", "city", "state_form", "city_form"),
    [
        ("US", "California", "St. Louis 2", "ca", "stlouis"),
        ("US", "new york", "New-York", "ny", "newyork"),
        ("FR", "Île-de-France", "Saint-Étienne", "îledefrance", "saintétienne"),
        ("GE", "Georgia", "Tbilisi", "georgia", "tbilisi"),  # a US state name outside the US stays a name
    ],
)
def test_region_becomes_a_us_state_code_only_in_the_us_and_cities_keep_letters_only(
    country: str, region: str, city: str, state_form: str, city_form: str
) -> None:
    event = make_event()
    event["context"].update(country=country, region=region, city=city)
    user_data = PROVIDER.default_payload(event)["user_data"]
    assert user_data["st"] == [sha256_hex(state_form)]
    assert user_data["ct"] == [sha256_hex(city_form)]
    assert user_data["country"] == [sha256_hex(country.lower())]


def test_strict_privacy_mode_sends_country_but_never_city_or_state() -> None:
    event = make_event()
    event["privacy_mode"] = "strict"
    item = make_item(event)  # the privacy rules remove city and region before mapping
    assert "country" in item.payload["user_data"]
    assert {"ct", "st"}.isdisjoint(item.payload["user_data"])
    # Even an event that still held them (privacy rules bypassed) gives no ct or st in strict mode.
    assert {"ct", "st"}.isdisjoint(PROVIDER.default_payload(event)["user_data"])


def test_an_unusable_country_is_left_out() -> None:
    event = make_event()
    event["context"]["country"] = "USA"
    assert "country" not in PROVIDER.default_payload(event)["user_data"]


def test_action_source_is_other_by_default_a_non_web_source_meta_takes_without_a_user_agent() -> None:
    # Meta's Conversions API parameters: "Website events ... require the client_user_agent, action_source, and
    # event_source_url parameters, while non-web events require only action_source"; Nimriz has no user agent.
    (request,) = build([make_item(make_event())]).requests
    assert sent_events(request)[0]["action_source"] == "other"


def test_action_source_comes_from_the_destination_credentials() -> None:
    credentials = MetaCredentials.model_validate({**CREDENTIALS, "action_source": "physical_store"}).model_dump()
    (request,) = build([make_item(make_event())], credentials).requests
    assert sent_events(request)[0]["action_source"] == "physical_store"


def test_a_mapping_that_sets_action_source_wins_over_the_credentials() -> None:
    overrides = [{"type": "static", "to": "action_source", "value": "email"}]
    credentials = {**CREDENTIALS, "action_source": "physical_store"}
    (request,) = build([make_item(make_event(), overrides=overrides)], credentials).requests
    assert sent_events(request)[0]["action_source"] == "email"


@pytest.mark.parametrize("value", ["web", "Website", ""])
def test_credentials_accept_only_metas_action_sources(value: str) -> None:
    with pytest.raises(ValueError):
        MetaCredentials.model_validate({**CREDENTIALS, "action_source": value})


def test_every_default_field_is_documented() -> None:
    documented = " ".join(field for field, _ in PROVIDER.default_mapping_doc)
    payload = PROVIDER.default_payload(make_event("conversion.sale"))
    for key, value in payload.items():
        for field in [f"{key}.{inner}" for inner in value] if isinstance(value, dict) else [key]:
            assert field in documented, field


# -- what is not sent -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["conversion.refund", "conversion.cancellation", "conversion.reversal"])
def test_negative_outcomes_are_skipped_as_unsupported(event_type: str) -> None:
    built = build([make_item(make_event(event_type))])
    assert built.requests == []
    assert built.skipped[0].verdict is Verdict.SKIPPED
    assert built.skipped[0].error_class == "unsupported_outcome"


@pytest.mark.parametrize("event_type", ["link.clicked", "link.qr_scanned", "card.viewed"])
def test_non_conversion_events_are_skipped(event_type: str) -> None:
    built = build([make_item(make_event(event_type))])
    assert built.requests == []
    assert built.skipped[0].error_class == "not_a_conversion"


def test_a_conversion_without_email_phone_or_fbclid_is_skipped_for_missing_identifier() -> None:
    event = make_event(email=None, phone=None, click_ids={"gclid": "only-google"})
    built = build([make_item(event), make_item(make_event())])
    assert built.skipped[0].verdict is Verdict.SKIPPED
    assert built.skipped[0].error_class == "missing_identifier"
    assert [request.items for request in built.requests] == [(1,)]


def test_an_event_older_than_seven_days_fails_alone_instead_of_sinking_the_batch() -> None:
    stale = make_event(occurred=NOW - timedelta(days=8))
    built = build([make_item(stale), make_item(make_event())])
    assert built.skipped[0].verdict is Verdict.PERMANENT
    assert built.skipped[0].error_class == "event_too_old"
    assert [request.items for request in built.requests] == [(1,)]


# -- an event Meta would refuse fails alone, before batching ---------------------------------------------------


def test_a_purchase_without_currency_fails_alone_and_the_lead_beside_it_is_sent() -> None:
    purchase = make_event("conversion.sale", currency=None)
    built = build([make_item(purchase), make_item(make_event("conversion.lead"))])
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.PERMANENT, "purchase_without_currency")
    assert "currency" in (built.skipped[0].message or "")
    (request,) = built.requests
    assert request.items == (1,)
    assert [event["event_name"] for event in sent_events(request)] == ["Lead"]


@pytest.mark.parametrize(
    ("overrides", "error_class"),
    [
        ([{"type": "static", "to": "custom_data.value", "value": "a lot"}], "purchase_without_value"),
        ([{"type": "static", "to": "custom_data.currency", "value": "US dollars"}], "purchase_without_currency"),
        ([{"type": "static", "to": "action_source", "value": "web"}], "invalid_action_source"),
        ([{"type": "static", "to": "event_time", "value": int(NOW.timestamp() * 1000)}], "invalid_event_time"),
        ([{"type": "static", "to": "event_time", "value": int(NOW.timestamp()) + 3600}], "invalid_event_time"),
        ([{"type": "static", "to": "event_time", "value": "2026-11-28T12:00:00Z"}], "invalid_event_time"),
        ([{"type": "static", "to": "event_name", "value": ""}], "missing_event_name"),
    ],
)
def test_a_mapped_event_meta_would_refuse_fails_alone(overrides: list[dict[str, Any]], error_class: str) -> None:
    built = build([make_item(make_event("conversion.sale"), overrides=overrides), make_item(make_event())])
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.PERMANENT, error_class)
    assert [request.items for request in built.requests] == [(1,)]


def test_physical_store_events_may_be_up_to_62_days_old() -> None:
    credentials = {**CREDENTIALS, "action_source": "physical_store"}
    month_old = make_item(make_event(occurred=NOW - timedelta(days=30)))
    too_old = make_item(make_event(occurred=NOW - timedelta(days=63)))
    built = build([month_old, too_old], credentials)
    assert [request.items for request in built.requests] == [(0,)]
    assert built.skipped[1].error_class == "event_too_old"
    assert "62 days" in (built.skipped[1].message or "")


# -- Meta refuses a batch naming one event: that event fails, the rest are resent now ---------------------------


def refusal_naming(index: int, form: str) -> dict[str, Any]:
    error: dict[str, Any] = {"message": "Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "t"}
    if form == "message":
        error["message"] = f"(#100) data[{index}][custom_data][currency] must be a valid ISO 4217 currency"
    elif form == "error_user_msg":
        error["error_user_msg"] = f"Unexpected key \"index\" on param \"$['data'][{index}]['custom_data']\"."
    else:
        error["error_data"] = json.dumps({"event_index": index})
    return {"error": error}


@pytest.mark.parametrize("form", ["message", "error_user_msg", "error_data"])
def test_a_refusal_naming_one_event_fails_it_alone_and_resends_the_others_now(form: str) -> None:
    request = one_request(3)
    outcomes = PROVIDER.classify(request, answer(400, refusal_naming(1, form)))
    assert (outcomes[1].verdict, outcomes[1].error_class) == (Verdict.PERMANENT, "meta_error_100")
    assert not outcomes[1].resend_now
    for position in (0, 2):
        assert (outcomes[position].verdict, outcomes[position].error_class) == (Verdict.RETRY, "batch_mate_refused")
        assert outcomes[position].resend_now
        assert "data[1]" in (outcomes[position].message or "")


def test_the_refused_event_keeps_metas_message() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(400, refusal_naming(0, "error_user_msg")))
    assert "$['data'][0]['custom_data']" in (outcomes[0].message or "")


def test_items_to_resend_are_rebuilt_into_a_request_without_the_refused_event() -> None:
    items = [make_item(make_event()) for _ in range(3)]
    (request,) = build(items).requests
    outcomes = PROVIDER.classify(request, answer(400, refusal_naming(2, "message")))
    resend = [position for position, outcome in outcomes.items() if outcome.resend_now]
    (again,) = build([items[position] for position in resend]).requests
    assert len(sent_events(again)) == 2


def test_positions_follow_the_request_not_the_data_index() -> None:
    # A request carrying items 4 and 7: data[1] is item 7.
    (template,) = build([make_item(make_event()) for _ in range(2)]).requests
    request = OutboundRequest(template.method, template.url, template.headers, template.body, (4, 7), template.secrets)
    outcomes = PROVIDER.classify(request, answer(400, refusal_naming(1, "message")))
    assert outcomes[7].verdict is Verdict.PERMANENT and outcomes[4].resend_now


def test_an_invalid_parameter_refusal_naming_no_event_of_the_request_refuses_the_batch_together() -> None:
    # The dispatcher resends its events at once in halves until the refusal is one event's own.
    outcomes = PROVIDER.classify(one_request(2), answer(400, refusal_naming(5, "message")))
    assert {(o.verdict, o.error_class, o.resend_now) for o in outcomes.values()} == {
        (Verdict.PERMANENT, "meta_error_100", True)
    }


def test_a_refusal_about_the_account_is_not_isolated() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(400, graph_error(200)))
    assert {(outcome.verdict, outcome.resend_now) for outcome in outcomes.values()} == {(Verdict.PERMANENT, False)}


def test_a_transient_error_naming_an_event_retries_the_whole_batch_later() -> None:
    body = refusal_naming(1, "message")
    body["error"]["is_transient"] = True
    outcomes = PROVIDER.classify(one_request(2), answer(400, body))
    assert {(outcome.verdict, outcome.resend_now) for outcome in outcomes.values()} == {(Verdict.RETRY, False)}


def test_a_resend_is_a_retry_for_a_dispatcher_that_ignores_the_flag() -> None:
    outcome = Outcome.resend("Meta refused the batch because of another event in it (data[3])")
    assert (outcome.verdict, outcome.error_class, outcome.resend_now) == (Verdict.RETRY, "batch_mate_refused", True)
    assert not Outcome.retry("http_500").resend_now


# -- hashing is enforced on the mapped payload ----------------------------------------------------------------


def test_a_raw_email_put_in_by_a_mapping_leaves_hashed() -> None:
    overrides = [{"type": "template", "to": "user_data.em", "template": "{{conversion.email}}"}]
    (request,) = build([make_item(make_event(email="Jane.Doe@example.com"), overrides=overrides)]).requests
    assert sent_events(request)[0]["user_data"]["em"] == [EMAIL_HASH]
    assert b"jane.doe@example.com" not in request.body.lower()


def test_an_already_hashed_value_is_passed_through_unchanged() -> None:
    overrides = [{"type": "static", "to": "user_data.external_id", "value": EMAIL_HASH.upper()}]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    assert sent_events(request)[0]["user_data"]["external_id"] == [EMAIL_HASH]


@given(st.one_of(st.text(max_size=40), st.lists(st.text(max_size=20), max_size=3)))
def test_whatever_a_mapping_puts_in_hashed_fields_only_sha256_hex_leaves(value: Any) -> None:
    overrides = [{"type": "static", "to": f"user_data.{key}", "value": value} for key in ("em", "ph", "ct", "zp")]
    (request,) = build([make_item(make_event(), overrides=overrides)]).requests
    user_data = sent_events(request)[0]["user_data"]
    for key in ("em", "ph", "ct", "zp"):
        for digest in user_data.get(key, []):
            assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")


# -- requests -------------------------------------------------------------------------------------------------


def test_request_goes_to_the_pixel_events_edge_with_the_token_only_in_the_query() -> None:
    request = one_request()
    url = urlsplit(request.url)
    assert (request.method, url.netloc, url.path) == (
        "POST",
        "graph.facebook.com",
        f"/{GRAPH_API_VERSION}/1234567890/events",
    )
    assert parse_qs(url.query) == {"access_token": [TOKEN]}
    assert request.headers == {"Content-Type": "application/json"}
    assert TOKEN.encode() not in request.body
    assert request.secrets == (TOKEN,)


def test_batches_hold_at_most_1000_events() -> None:
    built = build([make_item(make_event()) for _ in range(MAX_EVENTS_PER_REQUEST + 1)])
    assert [len(request.items) for request in built.requests] == [MAX_EVENTS_PER_REQUEST, 1]
    assert built.requests[1].items == (MAX_EVENTS_PER_REQUEST,)


def test_test_sends_carry_the_test_event_code_and_go_in_their_own_request() -> None:
    credentials = {**CREDENTIALS, "test_event_code": "TEST12345"}
    built = build([make_item(make_event(), "test"), make_item(make_event())], credentials)
    bodies = {request.items: json.loads(request.body) for request in built.requests}
    assert bodies[(0,)]["test_event_code"] == "TEST12345"
    assert "test_event_code" not in bodies[(1,)]
    test_request = next(request for request in built.requests if request.items == (0,))
    outcome = PROVIDER.classify(test_request, answer(200, {"events_received": 1}))[0]
    assert outcome.verdict is Verdict.DELIVERED and "test_event_code" in (outcome.message or "")


def test_a_test_send_without_a_test_event_code_goes_live_and_says_so() -> None:
    (request,) = build([make_item(make_event(), "test")]).requests
    assert "test_event_code" not in json.loads(request.body)
    outcome = PROVIDER.classify(request, answer(200, {"events_received": 1}))[0]
    assert "live" in (outcome.message or "")


def test_credentials_reject_a_non_numeric_pixel_id() -> None:
    with pytest.raises(ValueError):
        MetaCredentials.model_validate({"pixel_id": "px-1", "access_token": TOKEN})


# -- classification -------------------------------------------------------------------------------------------


def test_success_delivers_every_event_of_the_request() -> None:
    request = one_request(3)
    outcomes = PROVIDER.classify(request, answer(200, {"events_received": 3, "messages": [], "fbtrace_id": "x"}))
    assert set(outcomes) == {0, 1, 2}
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}


def test_fewer_events_received_than_sent_delivers_none_of_them_without_proof() -> None:
    # Which one is missing is unknown: both are refused together, resent at once in halves until each is counted.
    outcomes = PROVIDER.classify(one_request(2), answer(200, {"events_received": 1, "messages": []}))
    assert {(o.verdict, o.error_class, o.resend_now) for o in outcomes.values()} == {
        (Verdict.RETRY, "meta_events_not_received", True)
    }
    assert "Meta acknowledged 1 of 2 events" in (outcomes[0].message or "")


def test_events_metas_messages_name_fail_and_the_rest_of_the_count_is_delivered() -> None:
    body = {"events_received": 2, "messages": ["data[1]: event_time is too far in the past"], "fbtrace_id": "t"}
    outcomes = PROVIDER.classify(one_request(3), answer(200, body))
    assert (outcomes[1].verdict, outcomes[1].error_class) == (Verdict.PERMANENT, "meta_event_not_received")
    assert "event_time is too far in the past" in (outcomes[1].message or "")
    assert outcomes[0].verdict is outcomes[2].verdict is Verdict.DELIVERED
    assert "Meta acknowledged 2 of 3 events" in (outcomes[0].message or "")


@pytest.mark.parametrize("body", [{}, {"events_received": "3"}, {"events_received": -1}])
def test_a_2xx_without_a_readable_count_is_a_permanent_invalid_response(body: dict[str, Any]) -> None:
    outcomes = PROVIDER.classify(one_request(3), answer(200, body))
    assert {(o.verdict, o.error_class) for o in outcomes.values()} == {(Verdict.PERMANENT, "invalid_response")}


def graph_error(code: int, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": f"error {code}", "type": "OAuthException", "code": code, "fbtrace_id": "t", **extra}}


@pytest.mark.parametrize("code", [1, 2, 341])
def test_transient_graph_errors_are_retried_for_the_whole_batch(code: int) -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(400, graph_error(code)))
    assert {(outcome.verdict, outcome.throttled) for outcome in outcomes.values()} == {(Verdict.RETRY, False)}
    assert outcomes[0].error_class == f"meta_error_{code}"


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80004, 80014])
def test_rate_limit_codes_are_throttled_until_meta_says_access_returns(code: int) -> None:
    usage = {"1234": [{"type": "ads_management", "estimated_time_to_regain_access": 19}], "5678": [{"type": "pages"}]}
    headers = {"x-business-use-case-usage": json.dumps(usage)}
    outcomes = PROVIDER.classify(one_request(2), answer(400, graph_error(code), headers))
    assert {(o.verdict, o.throttled, o.error_class) for o in outcomes.values()} == {
        (Verdict.RETRY, True, f"meta_error_{code}")
    }
    assert outcomes[0].retry_after == 19 * 60


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-ad-account-usage": '{"acc_id_util_pct": 99.5, "reset_time_duration": 100}'}, 100),
        (
            {
                "x-ad-account-usage": '{"reset_time_duration": 100}',
                "x-business-use-case-usage": '{"1": [{"estimated_time_to_regain_access": 3}]}',
            },
            180,
        ),
        ({"x-app-usage": '{"call_count": 100, "total_time": 40, "total_cputime": 30}'}, None),  # percentages only
        ({"x-business-use-case-usage": '{"1": [{"estimated_time_to_regain_access": 0}]}'}, None),
        ({"x-business-use-case-usage": "not json"}, None),
        ({"retry-after": "30"}, None),  # Meta sends none: not read
    ],
)
def test_the_wait_of_a_throttle_comes_from_metas_usage_headers(headers: dict[str, str], wait: float | None) -> None:
    outcome = PROVIDER.classify(one_request(), answer(400, graph_error(17), headers))[0]
    assert (outcome.throttled, outcome.retry_after) == (True, wait)


def test_a_429_with_a_graph_throttle_reads_the_usage_headers() -> None:
    headers = {"x-business-use-case-usage": '{"1": [{"estimated_time_to_regain_access": 2}]}'}
    outcome = PROVIDER.classify(one_request(), answer(429, graph_error(80004), headers))[0]
    assert (outcome.throttled, outcome.error_class, outcome.retry_after) == (True, "meta_error_80004", 120)


def test_an_error_marked_transient_is_retried() -> None:
    outcome = PROVIDER.classify(one_request(), answer(400, graph_error(100, is_transient=True)))[0]
    assert outcome.verdict is Verdict.RETRY


def test_an_invalid_parameter_fails_the_whole_batch_permanently() -> None:
    outcomes = PROVIDER.classify(one_request(2), answer(400, graph_error(100, error_user_msg="event_time too old")))
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.PERMANENT}
    assert outcomes[1].error_class == "meta_error_100"
    assert outcomes[1].message == "error 100 - event_time too old"


def test_an_invalid_token_is_unauthorized() -> None:
    outcome = PROVIDER.classify(one_request(), answer(400, graph_error(190)))[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "unauthorized")


@pytest.mark.parametrize(
    ("status", "verdict", "error_class"),
    [
        (401, Verdict.PERMANENT, "unauthorized"),
        (429, Verdict.RETRY, "http_429"),
        (500, Verdict.RETRY, "http_500"),
        (503, Verdict.RETRY, "http_503"),
        (404, Verdict.PERMANENT, "http_404"),
    ],
)
def test_status_codes_without_a_graph_error_body(status: int, verdict: Verdict, error_class: str) -> None:
    outcome = PROVIDER.classify(one_request(), answer(status, b"<html>oops</html>"))[0]
    assert (outcome.verdict, outcome.error_class) == (verdict, error_class)


def test_a_429_honours_retry_after() -> None:
    outcome = PROVIDER.classify(one_request(), answer(429, None, {"retry-after": "120"}))[0]
    assert outcome.retry_after == 120


def test_error_messages_never_echo_the_access_token() -> None:
    body = {"error": {"message": f"Malformed access token {TOKEN}", "type": "OAuthException", "code": 100}}
    outcome = PROVIDER.classify(one_request(), answer(400, body))[0]
    assert TOKEN not in (outcome.message or "")
    assert "[redacted]" in (outcome.message or "")


# -- limited data use -----------------------------------------------------------------------------------------

LDU = {"data_processing_options": ["LDU"], "data_processing_options_country": 0, "data_processing_options_state": 0}


def ldu_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key.startswith("data_processing_options")}


def test_limited_data_use_on_the_destination_sends_ldu_for_meta_to_geolocate() -> None:
    credentials = MetaCredentials.model_validate({**CREDENTIALS, "limited_data_use": True}).model_dump()
    (request,) = build([make_item(make_event())], credentials).requests
    assert ldu_fields(sent_events(request)[0]) == LDU


def test_a_strict_privacy_event_always_goes_with_ldu_whatever_its_mapping_says() -> None:
    strict = make_event()
    strict["privacy_mode"] = "strict"
    overrides = [{"type": "static", "to": "data_processing_options", "value": []}]
    (request,) = build([make_item(strict, overrides=overrides), make_item(make_event())]).requests
    assert [ldu_fields(event) for event in sent_events(request)] == [LDU, {}]
