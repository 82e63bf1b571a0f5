"""Generic HTTP adapter → HttpSender → a customer receiver that verifies the documented signature, over sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import DeliveryItem, Outcome, Verdict
from nimriz_destinations.providers.generic_http import PROVIDER
from nimriz_destinations.sample_events import sample_event
from tests.sinks.server import Sink, SinkRequest, SinkResponse
from tests.sinks.webhook_receiver import WebhookReceiver, webhook_receiver

SECRET = "whsec_integration_secret_0123456789"
CUSTOM_HEADERS = {"Authorization": "Bearer customer-token-123", "X-Team": "growth"}
DEFAULT_MAPPING = compile_mapping(PropertyMapping())


@pytest.fixture
def receiver() -> Iterator[tuple[Sink, WebhookReceiver]]:
    handler = webhook_receiver(SECRET, required_headers=CUSTOM_HEADERS)
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender() -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True)
    yield http
    http.close()


def credentials(sink: Sink, **changes: Any) -> dict[str, Any]:
    return {
        "url": f"{sink.url}/hooks/nimriz",
        "method": "POST",
        "headers": CUSTOM_HEADERS,
        "signing_secret": SECRET,
    } | changes


def make_item(event_type: str = "link.clicked", *, reason: str = "live", attempt: int = 1) -> DeliveryItem:
    event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id="evt_1")
    return DeliveryItem("dlv_1", event, DEFAULT_MAPPING.apply(event, PROVIDER.default_payload), reason, attempt)


def deliver(sender: HttpSender, item: DeliveryItem, creds: dict[str, Any], *, now: float | None = None) -> Outcome:
    """What the dispatcher does for one job: build, send, classify."""
    built = PROVIDER.build_requests([item], creds, now=time.time() if now is None else now)
    (request,) = built.requests
    return PROVIDER.classify(request, sender.send("generic_http", request))[0]


def test_receiver_verifies_the_signature_and_gets_the_envelope(
    receiver: tuple[Sink, WebhookReceiver], sender: HttpSender
) -> None:
    sink, handler = receiver
    item = make_item("conversion.sale")
    assert deliver(sender, item, credentials(sink)).verdict is Verdict.DELIVERED
    assert handler.rejections == []
    (delivery,) = handler.verified
    assert (delivery.event_id, delivery.event_type, delivery.attempt, delivery.reason) == (
        "evt_1",
        "conversion.sale",
        1,
        "live",
    )
    assert delivery.envelope["data"] == item.payload
    assert (delivery.envelope["organization_id"], delivery.envelope["workspace_id"]) == ("org_1", "ws_1")
    assert sink.requests[0].path == "/hooks/nimriz"


def test_custom_headers_arrive_verbatim(receiver: tuple[Sink, WebhookReceiver], sender: HttpSender) -> None:
    sink, handler = receiver
    deliver(sender, make_item(), credentials(sink))
    (delivery,) = handler.verified
    assert delivery.headers["authorization"] == "Bearer customer-token-123"
    assert delivery.headers["x-team"] == "growth"


def test_server_error_is_retried_and_the_retry_is_accepted(
    receiver: tuple[Sink, WebhookReceiver], sender: HttpSender
) -> None:
    sink, handler = receiver
    sink.script.append(SinkResponse(500, "try again"))
    first = deliver(sender, make_item(), credentials(sink))
    assert (first.verdict, first.error_class) == (Verdict.RETRY, "http_500")
    second = deliver(sender, make_item(reason="retry", attempt=2), credentials(sink))
    assert second.verdict is Verdict.DELIVERED
    (delivery,) = handler.verified
    assert (delivery.event_id, delivery.attempt, delivery.reason) == ("evt_1", 2, "retry")


def test_rate_limit_is_retried_with_the_advertised_delay(
    receiver: tuple[Sink, WebhookReceiver], sender: HttpSender
) -> None:
    sink, _ = receiver
    sink.script.append(SinkResponse(429, {"error": "slow down"}, {"Retry-After": "20"}))
    outcome = deliver(sender, make_item(), credentials(sink))
    assert (outcome.verdict, outcome.retry_after) == (Verdict.RETRY, 20.0)


def test_test_send_arrives_as_the_webhook_test_event(
    receiver: tuple[Sink, WebhookReceiver], sender: HttpSender
) -> None:
    sink, handler = receiver
    assert deliver(sender, make_item(reason="test"), credentials(sink)).verdict is Verdict.DELIVERED
    (delivery,) = handler.verified
    assert (delivery.event_type, delivery.reason) == ("nim.webhook.test", "test")


def test_put_method_is_used_when_configured(sender: HttpSender) -> None:
    handler = webhook_receiver(SECRET, method="PUT")
    with Sink(handler) as sink:
        outcome = deliver(sender, make_item(), credentials(sink, method="PUT", headers={}))
    assert outcome.verdict is Verdict.DELIVERED
    assert [request.method for request in sink.requests] == ["PUT"]


def test_a_receiver_with_another_secret_refuses_and_the_failure_is_permanent(sender: HttpSender) -> None:
    handler = webhook_receiver("whsec_some_other_secret")
    with Sink(handler) as sink:
        outcome = deliver(sender, make_item(), credentials(sink))
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "http_401")
    assert handler.rejections == ["signature mismatch"]
    assert handler.verified == []


def test_a_stale_timestamp_is_refused_by_the_receiver(
    receiver: tuple[Sink, WebhookReceiver], sender: HttpSender
) -> None:
    sink, handler = receiver
    outcome = deliver(sender, make_item(), credentials(sink), now=time.time() - 3600)
    assert outcome.verdict is Verdict.PERMANENT
    assert handler.rejections == ["X-Nim-Timestamp is outside the tolerance window"]


def test_a_redirect_is_not_followed(receiver: tuple[Sink, WebhookReceiver], sender: HttpSender) -> None:
    sink, handler = receiver
    sink.script.append(SinkResponse(307, "", {"Location": f"{sink.url}/moved?token=abc"}))
    outcome = deliver(sender, make_item(), credentials(sink))
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "redirect_not_followed")
    assert outcome.message and "127.0.0.1" in outcome.message and "token" not in outcome.message
    assert len(sink.requests) == 1
    assert handler.verified == []


def test_gone_endpoint_is_a_permanent_failure(receiver: tuple[Sink, WebhookReceiver], sender: HttpSender) -> None:
    sink, _ = receiver
    sink.script.append(SinkResponse(410, "gone"))
    outcome = deliver(sender, make_item(), credentials(sink))
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "endpoint_gone")


# -- the receiver itself refuses what the contract forbids (so the tests above can fail) ----------------------


CREDENTIALS_WITHOUT_SINK = {"url": "https://hooks.example.com/nimriz", "signing_secret": SECRET}


def signed_request(**header_changes: str) -> SinkRequest:
    (request,) = PROVIDER.build_requests([make_item()], CREDENTIALS_WITHOUT_SINK, now=time.time()).requests
    headers = {name.lower(): value for name, value in request.headers.items()} | header_changes
    return SinkRequest("POST", "/hooks/nimriz", {}, headers, request.body)


def test_receiver_accepts_an_untouched_signed_request() -> None:
    handler = webhook_receiver(SECRET)
    assert handler(signed_request()).status == 200


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("x-nim-event-id", "evt_other", "X-Nim-Event-Id differs from the body id"),
        ("x-nim-event-type", "link.qr_scanned", "X-Nim-Event-Type differs from the body type"),
        ("x-nim-delivery-attempt", "0", "X-Nim-Delivery-Attempt is not a 1-based number"),
        ("x-nim-delivery-reason", "manual", "X-Nim-Delivery-Reason 'manual' is unknown"),
        ("x-nim-delivery-reason", "test", "only test deliveries carry nim.webhook.test"),
        ("x-nim-signature", "v1=" + "0" * 64, "signature mismatch"),
        (
            "x-nim-signature",
            "sha256=abc",
            "X-Nim-Signature is not v1=<64 lowercase hex> (space-separated when several)",
        ),
        ("x-nim-timestamp", "", "missing headers: x-nim-timestamp"),
    ],
)
def test_receiver_refuses_headers_that_break_the_contract(header: str, value: str, reason: str) -> None:
    handler = webhook_receiver(SECRET)
    answer = handler(signed_request(**{header: value}))
    assert answer.status >= 400
    assert handler.rejections == [reason]
