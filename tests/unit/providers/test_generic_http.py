from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from nimriz_destinations.event_fields import EVENT_TYPES
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import DeliveryItem, ProviderResponse, Verdict
from nimriz_destinations.providers.generic_http import PROVIDER, sign, verify_signature
from nimriz_destinations.sample_events import sample_event

SECRET = "whsec_test_secret"
NOW = 1748563200.123  # 2025-05-30T00:00:00.123Z
ENVELOPE_FIELDS = ("id", "type", "api_version", "organization_id", "workspace_id")
CREDENTIALS: dict[str, Any] = {
    "url": "https://hooks.example.com/nimriz",
    "method": "POST",
    "headers": {"Authorization": "Bearer customer-token-123", "X-Team": "growth"},
    "signing_secret": SECRET,
}


def make_event(event_type: str = "link.clicked", privacy_mode: str = "standard") -> dict[str, Any]:
    return sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", privacy_mode=privacy_mode, event_id="evt_1"
    )


def mapped(event: dict[str, Any], overrides: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    mapping = PropertyMapping.model_validate({"overrides": overrides or []})
    return compile_mapping(mapping).apply(event, PROVIDER.default_payload)


def make_item(event: dict[str, Any] | None = None, *, reason: str = "live", attempt: int = 1) -> DeliveryItem:
    event = make_event() if event is None else event
    return DeliveryItem("dlv_1", event, mapped(event), reason, attempt)


def only_request(item: DeliveryItem, credentials: dict[str, Any] = CREDENTIALS) -> Any:
    built = PROVIDER.build_requests([item], credentials, now=NOW)
    assert built.skipped == {}
    (request,) = built.requests
    return request


def response(status: int, headers: dict[str, str] | None = None) -> ProviderResponse:
    return ProviderResponse(status, {name.lower(): value for name, value in (headers or {}).items()}, b"")


def outcome_of(status: int, headers: dict[str, str] | None = None) -> Any:
    request = only_request(make_item())
    return PROVIDER.classify(request, response(status, headers))[0]


# -- default mapping -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_default_payload_is_the_event_without_its_envelope_fields(event_type: str) -> None:
    event = make_event(event_type)
    expected = {key: value for key, value in event.items() if key not in ENVELOPE_FIELDS}
    assert PROVIDER.default_payload(event) == expected


def test_default_payload_carries_the_conversion_object_for_conversions_only() -> None:
    assert PROVIDER.default_payload(make_event("conversion.refund"))["conversion"]["outcome"] == "refund"
    assert "conversion" not in PROVIDER.default_payload(make_event("link.clicked"))


def test_unknown_extra_event_fields_are_not_forwarded_by_default() -> None:
    event = make_event()
    event["experimental_score"] = 0.9
    event["link"]["future_field"] = "x"
    event["shiny_object"] = {"a": 1}
    payload = PROVIDER.default_payload(event)
    assert "experimental_score" not in payload
    assert "shiny_object" not in payload
    assert "future_field" not in payload["link"]


def test_null_fields_are_left_out_of_the_data() -> None:
    event = make_event("conversion.lead")
    event["touch_type"] = None
    event["context"]["city"] = None
    payload = PROVIDER.default_payload(event)
    assert "touch_type" not in payload
    assert "city" not in payload["context"]


def test_default_payload_shares_no_list_with_the_event() -> None:
    event = make_event()
    PROVIDER.default_payload(event)["link"]["tag_ids"].append("tampered")
    assert "tampered" not in event["link"]["tag_ids"]


def test_strict_mode_data_has_no_visitor_hash_city_or_region_even_when_a_mapping_asks() -> None:
    event = make_event(privacy_mode="strict")
    # An upstream mistake: a strict event that still carries the fields strict mode forbids.
    event["visitor"]["visitor_hash"] = "vh_leak"
    event["context"] |= {"city": "Berlin", "region": "BE"}
    payload = mapped(
        event,
        [
            {"type": "include", "field": "context.city", "to": "city"},
            {"type": "template", "to": "where", "template": "{{context.region}}/{{visitor.visitor_hash}}"},
        ],
    )
    assert "visitor_hash" not in payload["visitor"]
    assert payload["visitor"]["click_id"] == event["visitor"]["click_id"]
    assert {"city", "region"}.isdisjoint(payload["context"])
    assert "city" not in payload
    assert payload["where"] == "/"


def test_overrides_apply_on_top_of_the_default_data() -> None:
    payload = mapped(
        make_event(),
        [
            {"type": "rename", "from": "link.short_url", "to": "short_url"},
            {"type": "exclude", "field": "click_ids"},
            {"type": "static", "to": "source", "value": "nimriz"},
            {"type": "template", "to": "label", "template": "{{link.short_code}}-{{context.country}}"},
        ],
    )
    assert payload["short_url"] == "https://go.example.com/spring-sale"
    assert "short_url" not in payload["link"]
    assert "click_ids" not in payload
    assert payload["source"] == "nimriz"
    assert payload["label"] == "spring-sale-US"


def test_mapping_doc_documents_every_data_key() -> None:
    documented = {row[0] for row in PROVIDER.default_mapping_doc}
    for event_type in EVENT_TYPES:
        for key in PROVIDER.default_payload(make_event(event_type)):
            assert f"data.{key}" in documented


# -- request ---------------------------------------------------------------------------------------------------


def test_body_is_the_fixed_envelope_with_the_mapped_payload_as_data() -> None:
    item = make_item()
    request = only_request(item)
    assert json.loads(request.body) == {
        "id": "evt_1",
        "type": "link.clicked",
        "api_version": "2026-03-30",
        "created_at": "2025-05-30T00:00:00.123Z",
        "organization_id": "org_1",
        "workspace_id": "ws_1",
        "data": item.payload,
    }
    assert list(json.loads(request.body)) == [
        "id",
        "type",
        "api_version",
        "created_at",
        "organization_id",
        "workspace_id",
        "data",
    ]


def test_headers_carry_the_fixed_nim_headers_and_the_customer_headers() -> None:
    request = only_request(make_item(reason="retry", attempt=3))
    assert dict(request.headers) == {
        "Authorization": "Bearer customer-token-123",
        "X-Team": "growth",
        "Content-Type": "application/json",
        "X-Nim-Event-Id": "evt_1",
        "X-Nim-Event-Type": "link.clicked",
        "X-Nim-Timestamp": "1748563200",
        "X-Nim-Delivery-Attempt": "3",
        "X-Nim-Delivery-Reason": "retry",
        "X-Nim-Signature": sign(SECRET, 1748563200, request.body),
    }


def test_method_and_url_come_from_the_credentials() -> None:
    request = only_request(make_item(), CREDENTIALS | {"method": "PUT", "url": "https://h.example.org/a/b?x=1"})
    assert (request.method, request.url) == ("PUT", "https://h.example.org/a/b?x=1")


def test_method_defaults_to_post_and_headers_to_none() -> None:
    request = only_request(make_item(), {"url": "https://h.example.org/hook", "signing_secret": SECRET})
    assert request.method == "POST"
    assert not any(name.lower() == "authorization" for name in request.headers)


def test_test_sends_use_the_webhook_test_type_in_body_and_header() -> None:
    request = only_request(make_item(reason="test"))
    assert json.loads(request.body)["type"] == "nim.webhook.test"
    assert request.headers["X-Nim-Event-Type"] == "nim.webhook.test"
    assert request.headers["X-Nim-Delivery-Reason"] == "test"


def test_replays_keep_the_event_id() -> None:
    request = only_request(make_item(reason="replay", attempt=1))
    assert json.loads(request.body)["id"] == request.headers["X-Nim-Event-Id"] == "evt_1"


def test_signing_secret_every_custom_header_value_and_the_signature_are_listed_for_redaction() -> None:
    request = only_request(make_item())
    digest = request.headers["X-Nim-Signature"].removeprefix("v1=")
    assert set(request.secrets) == {SECRET, "Bearer customer-token-123", "growth", digest}


def test_each_item_gets_its_own_request() -> None:
    items = [make_item(), make_item(make_event("link.qr_scanned"))]
    built = PROVIDER.build_requests(items, CREDENTIALS, now=NOW)
    assert [request.items for request in built.requests] == [(0,), (1,)]
    assert PROVIDER.max_batch_size == 1


def test_missing_signing_secret_fails_permanently_without_a_request() -> None:
    built = PROVIDER.build_requests([make_item()], CREDENTIALS | {"signing_secret": None}, now=NOW)
    assert built.requests == []
    assert built.skipped[0].verdict is Verdict.PERMANENT
    assert built.skipped[0].error_class == "missing_signing_secret"


def test_generated_signing_secret_only_when_none_is_supplied() -> None:
    generated = PROVIDER.generated_credentials({"url": "https://h.example.org"})["signing_secret"]
    assert generated.startswith("whsec_") and len(generated) > 40
    assert PROVIDER.generated_credentials({"signing_secret": "mine"}) == {}


# -- signature -------------------------------------------------------------------------------------------------


def test_signature_matches_a_hand_computed_hmac_vector() -> None:
    # printf '%s' '1748563200.{"id":"evt_1","type":"link.clicked"}' | openssl dgst -sha256 -hmac 'whsec_test_secret'
    body = b'{"id":"evt_1","type":"link.clicked"}'
    expected = "v1=566eb7b2760dfbff300d781a55e2a7320a6f35e96d18ff53230ee8c7b273203e"
    assert sign(SECRET, 1748563200, body) == expected
    assert sign(SECRET, "1748563200", body) == expected


def test_signature_keys_with_the_utf8_bytes_of_the_secret_and_signs_raw_body_bytes() -> None:
    # printf '%s' '1748563200.{"id":"évt"}' | openssl dgst -sha256 -hmac 'sécret'
    body = '{"id":"évt"}'.encode()
    assert sign("sécret", 1748563200, body) == "v1=f8d56b35fb44210bba9f17f16b595cd08c507f839cbbbf8b08230fed7d3f4a59"


def test_request_signature_is_the_hmac_of_timestamp_dot_raw_body() -> None:
    request = only_request(make_item())
    signed = request.headers["X-Nim-Timestamp"].encode() + b"." + request.body
    assert request.headers["X-Nim-Signature"] == "v1=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()


def test_verify_accepts_a_fresh_valid_signature() -> None:
    request = only_request(make_item())
    header, timestamp = request.headers["X-Nim-Signature"], request.headers["X-Nim-Timestamp"]
    assert verify_signature(SECRET, header, timestamp, request.body, now=NOW + 299)


@pytest.mark.parametrize(
    ("secret", "body_suffix", "now", "timestamp"),
    [
        ("whsec_other", b"", NOW, "1748563200"),  # wrong secret
        (SECRET, b" ", NOW, "1748563200"),  # body changed after signing
        (SECRET, b"", NOW + 301, "1748563200"),  # stale
        (SECRET, b"", NOW - 301, "1748563200"),  # from the future
        (SECRET, b"", NOW, "1748563201"),  # timestamp changed after signing
        (SECRET, b"", NOW, "17485632OO"),  # not a number
        (SECRET, b"", NOW, "174856320²"),  # a digit to str.isdigit, not to int()
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "stale",
        "future",
        "other-timestamp",
        "non-numeric-timestamp",
        "superscript-digit",
    ],
)
def test_verify_refuses_tampered_stale_or_foreign_signatures(
    secret: str, body_suffix: bytes, now: float, timestamp: str
) -> None:
    request = only_request(make_item())
    header = request.headers["X-Nim-Signature"]
    assert not verify_signature(secret, header, timestamp, request.body + body_suffix, now=now)


def test_verify_tolerance_is_configurable() -> None:
    request = only_request(make_item())
    header = request.headers["X-Nim-Signature"]
    assert not verify_signature(SECRET, header, "1748563200", request.body, now=NOW + 61, tolerance_seconds=60)
    assert verify_signature(SECRET, header, "1748563200", request.body, now=NOW + 59, tolerance_seconds=60)


# -- classification --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert outcome_of(status).verdict is Verdict.DELIVERED


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retried(status: int) -> None:
    outcome = outcome_of(status)
    assert (outcome.verdict, outcome.error_class, outcome.retry_after) == (Verdict.RETRY, f"http_{status}", None)


@pytest.mark.parametrize(("status", "throttled"), [(429, True), (408, False), (503, False)])
def test_a_429_is_throttled_other_retries_are_not(status: int, throttled: bool) -> None:
    assert outcome_of(status).throttled is throttled  # RFC 6585 §4: 429 is "rate limiting"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int) -> None:
    assert outcome_of(status, {"Retry-After": "30"}).retry_after == 30.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    outcome = outcome_of(status)
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, f"http_{status}")


def test_410_gone_is_permanent_with_a_clear_message() -> None:
    outcome = outcome_of(410)
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "endpoint_gone")
    assert outcome.message and "410 Gone" in outcome.message


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_and_name_only_the_location_host(status: int) -> None:
    outcome = outcome_of(status, {"Location": "https://new.example.net/hooks?token=s3cr3t-value"})
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "redirect_not_followed")
    assert outcome.message and "new.example.net" in outcome.message
    assert "s3cr3t-value" not in outcome.message and "/hooks" not in outcome.message


@pytest.mark.parametrize(
    ("headers", "says"),
    [({}, "no Location header"), ({"Location": "/elsewhere"}, "relative"), ({"Location": "https://[::1"}, "relative")],
)
def test_redirect_without_a_readable_location_host_says_so(headers: dict[str, str], says: str) -> None:
    outcome = outcome_of(302, headers)
    assert outcome.verdict is Verdict.PERMANENT
    assert outcome.message and says in outcome.message


def test_outcome_messages_never_contain_secrets() -> None:
    request = only_request(make_item())
    for status in (200, 302, 400, 401, 410, 429, 500):
        outcome = PROVIDER.classify(request, response(status, {"Location": "https://x.example.com/"}))[0]
        for secret in request.secrets:
            assert secret not in (outcome.message or "")
