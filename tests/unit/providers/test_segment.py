from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from nimriz_destinations.event_fields import EVENT_TYPES
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import DeliveryItem, OutboundRequest, ProviderResponse, Verdict
from nimriz_destinations.providers.segment import MAX_BATCH_BYTES, MAX_EVENT_BYTES, PROVIDER
from nimriz_destinations.sample_events import sample_event

WRITE_KEY = "seg_SeCrEt_write_key_f3a1"
BASIC_TOKEN = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
CREDENTIALS: dict[str, Any] = {"write_key": WRITE_KEY, "region": "us"}
NOW = 1748563200.5  # 2025-05-30T00:00:00.500Z

EXPECTED_NAMES = {
    "link.clicked": "Link Clicked",
    "link.qr_scanned": "QR Scanned",
    "card.viewed": "Card Viewed",
    "card.link_clicked": "Card Link Clicked",
    # Sample conversions carry a configured name: it wins over the generic one.
    "conversion.lead": "Newsletter signup",
    "conversion.sale": "Spring order",
    "conversion.refund": "Spring order",
    "conversion.cancellation": "Spring order",
    "conversion.reversal": "Spring order",
}


def make_event(event_type: str = "link.clicked", privacy_mode: str = "standard", event_id: str = "evt_1") -> Any:
    return sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", privacy_mode=privacy_mode, event_id=event_id
    )


def mapped(event: dict[str, Any], overrides: list[dict[str, Any]] | None = None, base: str = "default") -> Any:
    mapping = PropertyMapping.model_validate({"base": base, "overrides": overrides or []})
    return compile_mapping(mapping).apply(event, PROVIDER.default_payload)


def make_item(event: dict[str, Any] | None = None, payload: dict[str, Any] | None = None) -> DeliveryItem:
    event = make_event() if event is None else event
    return DeliveryItem("dlv", event, mapped(event) if payload is None else payload, "live", 1)


def items(count: int) -> list[DeliveryItem]:
    return [make_item(make_event(event_id=f"evt_{index:04d}")) for index in range(count)]


def build(delivery_items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS) -> Any:
    return PROVIDER.build_requests(delivery_items, credentials, now=NOW)


def sized_item(index: int, message_bytes: int) -> DeliveryItem:
    """An item whose track message serializes to exactly `message_bytes` (padding one property)."""
    event = make_event(event_id=f"evt_{index:04d}")
    payload = mapped(event)
    payload["properties"]["pad"] = ""
    base_size = len(build([make_item(event, payload)]).requests[0].body)
    payload["properties"]["pad"] = "x" * (message_bytes - base_size)
    return make_item(event, payload)


def response(status: int, body: Any = b"", headers: dict[str, str] | None = None) -> ProviderResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ProviderResponse(status, {name.lower(): value for name, value in (headers or {}).items()}, raw)


def classify_one(resp: ProviderResponse) -> Any:
    (request,) = build([make_item()]).requests
    return PROVIDER.classify(request, resp)[0]


# -- default mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_default_mapping_is_a_track_call_named_for_the_event(event_type: str) -> None:
    event = make_event(event_type)
    payload = mapped(event)
    assert payload["type"] == "track"
    assert payload["event"] == EXPECTED_NAMES[event_type]
    assert payload["anonymousId"] == event["visitor"]["visitor_hash"]
    assert payload["messageId"] == "evt_1"
    assert payload["timestamp"] == event["occurred_at"]
    assert payload["context"]["library"] == {"name": "nimriz-destinations", "version": "1.0"}
    properties = payload["properties"]
    assert properties["event_type"] == event_type
    assert properties["short_url"] == event["link"]["short_url"]
    assert properties["domain_name"] == event["link"]["domain_name"]
    assert properties["short_code"] == event["link"]["short_code"]
    assert properties["destination_host"] == event["link"]["destination_host"]
    assert properties["country"] == "US"
    assert properties["device_category"] == "mobile"
    assert properties["utm_source"] == event["utm"]["source"]
    assert properties["utm_campaign"] == "spring_sale_2026"
    assert None not in properties.values()


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("conversion.lead", "Lead"),
        ("conversion.sale", "Sale"),
        ("conversion.refund", "Refund"),
        ("conversion.cancellation", "Cancellation"),
        ("conversion.reversal", "Reversal"),
    ],
)
def test_conversion_without_a_configured_name_uses_the_generic_name(event_type: str, name: str) -> None:
    event = make_event(event_type)
    del event["conversion"]["conversion_name"]
    assert mapped(event)["event"] == name


def test_link_click_properties_flatten_the_documented_canonical_fields() -> None:
    properties = mapped(make_event("link.clicked"))["properties"]
    assert properties == {
        "nimriz_event_id": "evt_1",
        "event_type": "link.clicked",
        "touch_type": "short_link_click",
        "bot_flag": False,
        "privacy_mode": "standard",
        "url_id": "0b9a3c3e-5d1f-4a7e-9a57-3f0c8f1d2b64",
        "domain_id": "7e2f4c1a-9b3d-4e8f-a6c5-1d0b2e3f4a5b",
        "domain_name": "go.example.com",
        "short_code": "spring-sale",
        "short_url": "https://go.example.com/spring-sale",
        "destination_host": "shop.example.com",
        "destination_url_capped": "https://shop.example.com/collections/spring",
        "space_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
        "tag_ids": ["5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"],
        "country": "US",
        "region": "CA",
        "city": "San Francisco",
        "colo": "SJC",
        "device_category": "mobile",
        "browser_family": "Safari",
        "os_family": "iOS",
        "referrer": "https://www.instagram.com/",
        "referrer_host": "www.instagram.com",
        "social_source": "instagram",
        "utm_source": "instagram",
        "utm_medium": "social",
        "utm_campaign": "spring_sale_2026",
        "utm_content": "story_1",
        "gclid": "EAIaIQobChMI8cXb4pWhhQMVqJ9QBh0sample",
        "fbclid": "IwAR2sample_fbclid_Xc9kLm",
    }


def test_campaign_context_comes_from_utm_per_segment_spec() -> None:
    event = make_event()
    event["utm"]["term"] = "shoes"
    assert mapped(event)["context"]["campaign"] == {
        "name": "spring_sale_2026",
        "source": "instagram",
        "medium": "social",
        "term": "shoes",
        "content": "story_1",
    }


def test_no_campaign_context_without_utm() -> None:
    event = make_event()
    del event["utm"]
    payload = mapped(event)
    assert "campaign" not in payload["context"]
    assert not any(name.startswith("utm_") for name in payload["properties"])


def test_only_present_fields_become_properties() -> None:
    qr = mapped(make_event("link.qr_scanned"))["properties"]
    assert {"referrer", "referrer_host", "social_source", "outcome"}.isdisjoint(qr)
    assert qr["touch_type"] == "qr_scan"
    card = mapped(make_event("card.viewed"))["properties"]
    assert "gclid" not in card and "fbclid" not in card


def test_conversion_properties_carry_outcome_value_and_currency_but_no_personal_data() -> None:
    properties = mapped(make_event("conversion.refund"))["properties"]
    assert properties["outcome"] == "refund"
    assert properties["conversion_name"] == "Spring order"
    assert (properties["value"], properties["currency"]) == (49.9, "USD")
    assert properties["original_event_id"] == "4f1c2b3a-5d6e-4f70-8a9b-0c1d2e3f4a5b"
    assert properties["click_token"] == "nim_ct_2b7f9e4d1c8a6035"
    assert {"email", "phone", "visitor_hash", "click_id", "revenue"}.isdisjoint(properties)


def test_revenue_is_set_for_sales_only() -> None:
    assert mapped(make_event("conversion.sale"))["properties"]["revenue"] == 49.9
    assert mapped(make_event("conversion.lead"))["properties"]["value"] == 0
    assert "revenue" not in mapped(make_event("conversion.lead"))["properties"]


def test_strict_mode_identifies_by_click_id_and_drops_city_and_region_even_when_a_mapping_asks() -> None:
    event = make_event(privacy_mode="strict")
    event["visitor"]["visitor_hash"] = "vh_leak"  # an upstream mistake the privacy rules must still catch
    event["context"] |= {"city": "Berlin", "region": "BE"}
    payload = mapped(
        event,
        [
            {"type": "include", "field": "context.city", "to": "properties.city"},
            {"type": "include", "field": "visitor.visitor_hash", "to": "userId"},
            {"type": "template", "to": "properties.where", "template": "{{context.region}}"},
        ],
    )
    assert payload["anonymousId"] == event["visitor"]["click_id"]
    assert {"city", "region"}.isdisjoint(payload["properties"])
    assert "userId" not in payload
    assert payload["properties"]["where"] == ""
    assert "vh_leak" not in json.dumps(payload)


def test_overrides_apply_on_top_of_the_default_track_call() -> None:
    payload = mapped(
        make_event(),
        [
            {"type": "rename", "from": "properties.short_url", "to": "properties.link_url"},
            {"type": "exclude", "field": "properties.colo"},
            {"type": "static", "to": "properties.source", "value": "nimriz"},
            {"type": "template", "to": "event", "template": "Click {{link.short_code}}"},
            {"type": "include", "field": "visitor.click_id", "to": "userId"},
        ],
    )
    assert payload["properties"]["link_url"] == "https://go.example.com/spring-sale"
    assert "short_url" not in payload["properties"] and "colo" not in payload["properties"]
    assert payload["properties"]["source"] == "nimriz"
    assert payload["event"] == "Click spring-sale"
    assert payload["userId"] == "ck_8d1e6b2a9f4c7035"


def test_mapping_doc_documents_every_property_the_default_sends() -> None:
    documented = {row[0] for row in PROVIDER.default_mapping_doc}
    for event_type in EVENT_TYPES:
        payload = mapped(make_event(event_type))
        assert {f"properties.{name}" for name in payload["properties"]} <= documented
        assert {f"context.{name}" for name in payload["context"]} <= documented
        assert set(payload) - {"properties", "context"} <= documented


# -- requests --------------------------------------------------------------------------------------------------


def test_one_item_is_a_track_call_with_basic_auth() -> None:
    item = make_item()
    (request,) = build([item]).requests
    assert (request.method, request.url, request.items) == ("POST", "https://api.segment.io/v1/track", (0,))
    assert dict(request.headers) == {"Content-Type": "application/json", "Authorization": f"Basic {BASIC_TOKEN}"}
    assert base64.b64decode(BASIC_TOKEN) == f"{WRITE_KEY}:".encode()
    assert json.loads(request.body) == item.payload | {"sentAt": "2025-05-30T00:00:00.500Z"}


def test_write_key_is_never_in_the_body_and_both_of_its_forms_are_listed_for_redaction() -> None:
    for request in build(items(3)).requests:
        assert WRITE_KEY.encode() not in request.body
        assert set(request.secrets) == {WRITE_KEY, BASIC_TOKEN}


def test_eu_region_uses_the_eu_endpoint() -> None:
    (request,) = build([make_item()], {"write_key": WRITE_KEY, "region": "eu"}).requests
    assert request.url == "https://events.eu1.segmentapis.com/v1/track"
    (batch,) = build(items(2), {"write_key": WRITE_KEY, "region": "eu"}).requests
    assert batch.url == "https://events.eu1.segmentapis.com/v1/batch"


def test_region_defaults_to_us() -> None:
    (request,) = build([make_item()], {"write_key": WRITE_KEY}).requests
    assert request.url.startswith("https://api.segment.io/")


def test_several_items_are_one_batch_call_in_order() -> None:
    batch_items = items(3)
    (request,) = build(batch_items).requests
    assert request.url == "https://api.segment.io/v1/batch"
    assert request.items == (0, 1, 2)
    body = json.loads(request.body)
    assert list(body) == ["batch"]
    assert [message["messageId"] for message in body["batch"]] == ["evt_0000", "evt_0001", "evt_0002"]
    assert all(message["type"] == "track" and message["sentAt"] for message in body["batch"])


def test_batches_hold_at_most_max_batch_size_events() -> None:
    assert PROVIDER.max_batch_size == 100
    (full,) = build(items(100)).requests
    assert len(full.items) == 100
    first, rest = build(items(101)).requests
    assert (len(first.items), rest.items) == (100, (100,))
    assert rest.url.endswith("/v1/track")  # a group of one is a plain track call


def test_a_batch_of_exactly_the_byte_limit_is_one_request() -> None:
    # 15 items of 31,250 bytes + one of 31,223 + '{"batch":[' + 15 commas + ']}' = 500,000 bytes.
    batch_items = [sized_item(index, 31_250) for index in range(15)] + [sized_item(15, 31_223)]
    (request,) = build(batch_items).requests
    assert len(request.body) == MAX_BATCH_BYTES
    assert len(request.items) == 16


def test_one_byte_over_the_batch_limit_splits_the_batch() -> None:
    batch_items = [sized_item(index, 31_250) for index in range(15)] + [sized_item(15, 31_224)]
    first, second = build(batch_items).requests
    assert (first.items, second.items) == (tuple(range(15)), (15,))
    assert len(first.body) <= MAX_BATCH_BYTES


def test_large_events_are_split_greedily_into_batches_under_the_limit() -> None:
    batch_items = [sized_item(index, 30_000) for index in range(40)]
    requests = build(batch_items).requests
    assert [position for request in requests for position in request.items] == list(range(40))
    assert all(len(request.body) <= MAX_BATCH_BYTES for request in requests)
    # Greedy: adding the next event to a batch would have crossed the limit.
    for request in requests[:-1]:
        assert len(request.body) + 1 + 30_000 > MAX_BATCH_BYTES


def test_an_event_of_exactly_32kb_is_sent() -> None:
    (request,) = build([sized_item(0, MAX_EVENT_BYTES)]).requests
    assert len(request.body) == MAX_EVENT_BYTES


def test_an_event_over_32kb_is_refused_permanently_without_sending_it() -> None:
    built = build([make_item(make_event(event_id="evt_a")), sized_item(1, MAX_EVENT_BYTES + 1), *items(1)])
    assert built.skipped[1].verdict is Verdict.PERMANENT
    assert built.skipped[1].error_class == "event_too_large"
    (request,) = built.requests
    assert request.items == (0, 2)
    assert b'"pad"' not in request.body


@pytest.mark.parametrize(
    "override",
    [{"type": "exclude", "field": "anonymousId"}, {"type": "exclude", "field": "event"}],
    ids=["no-identity", "no-event-name"],
)
def test_events_segment_would_silently_drop_are_refused_permanently(override: dict[str, Any]) -> None:
    event = make_event()
    built = build([make_item(event, mapped(event, [override]))])
    assert built.requests == []
    assert (built.skipped[0].verdict, built.skipped[0].error_class) == (Verdict.PERMANENT, "invalid_payload")


def test_a_user_id_alone_is_enough_identity() -> None:
    event = make_event()
    payload = mapped(event, [{"type": "rename", "from": "anonymousId", "to": "userId"}])
    (request,) = build([make_item(event, payload)]).requests
    assert json.loads(request.body)["userId"] == event["visitor"]["visitor_hash"]


def test_type_is_always_track_and_a_removed_message_id_falls_back_to_the_event_id() -> None:
    event = make_event()
    payload = mapped(
        event, [{"type": "exclude", "field": "messageId"}, {"type": "static", "to": "type", "value": "identify"}]
    )
    (request,) = build([make_item(event, payload)]).requests
    body = json.loads(request.body)
    assert (body["type"], body["messageId"]) == ("track", "evt_1")


def test_an_explicit_message_id_from_a_mapping_is_kept() -> None:
    event = make_event()
    payload = mapped(event, [{"type": "template", "to": "messageId", "template": "nim-{{id}}"}])
    (request,) = build([make_item(event, payload)]).requests
    assert json.loads(request.body)["messageId"] == "nim-evt_1"


# -- classification --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_is_delivered(status: int) -> None:
    assert classify_one(response(status, {"success": True})).verdict is Verdict.DELIVERED


@pytest.mark.parametrize("status", [408, 410, 429, 460, 500, 502, 503, 504, 508, 599])
def test_segment_retryable_statuses_are_retried(status: int) -> None:
    outcome = classify_one(response(status))
    assert (outcome.verdict, outcome.error_class) == (Verdict.RETRY, f"http_{status}")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 501, 505, 511, 301, 302])
def test_other_statuses_are_permanent(status: int) -> None:
    outcome = classify_one(response(status))
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, f"http_{status}")


def test_429_honours_retry_after() -> None:
    assert classify_one(response(429, headers={"Retry-After": "7"})).retry_after == 7.0


def test_429_falls_back_to_x_ratelimit_reset() -> None:
    assert classify_one(response(429, headers={"X-RateLimit-Reset": "12"})).retry_after == 12.0


def test_retry_after_wins_over_x_ratelimit_reset() -> None:
    outcome = classify_one(response(429, headers={"Retry-After": "3", "X-RateLimit-Reset": "12"}))
    assert outcome.retry_after == 3.0


def test_400_is_permanent_with_segments_message() -> None:
    outcome = classify_one(response(400, {"code": "invalid_request", "message": "Exceed payload limit"}))
    assert outcome.verdict is Verdict.PERMANENT
    assert outcome.message == "Segment answered 400: Exceed payload limit (invalid_request)"


def test_non_json_error_body_is_kept_as_capped_text() -> None:
    outcome = classify_one(response(400, b"Bad Request " + b"x" * 1000))
    assert outcome.message and outcome.message.startswith("Segment answered 400: Bad Request")
    assert len(outcome.message) < 400


def test_error_body_echoing_the_write_key_is_redacted() -> None:
    outcome = classify_one(response(401, {"code": "unauthorized", "message": f"bad key {WRITE_KEY} / {BASIC_TOKEN}"}))
    assert outcome.message and WRITE_KEY not in outcome.message and BASIC_TOKEN not in outcome.message
    assert "[redacted]" in outcome.message


def test_a_batch_response_applies_to_every_item_it_carried() -> None:
    request: OutboundRequest = build(items(3)).requests[0]
    outcomes = PROVIDER.classify(request, response(503, headers={"Retry-After": "9"}))
    assert set(outcomes) == {0, 1, 2}
    assert {(o.verdict, o.retry_after) for o in outcomes.values()} == {(Verdict.RETRY, 9.0)}
