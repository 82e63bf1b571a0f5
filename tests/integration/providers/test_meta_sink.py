"""Meta adapter → HttpSender → a Graph-like sink over real loopback sockets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import DeliveryItem, Outcome, Verdict
from nimriz_destinations.providers.meta import GRAPH_API_VERSION, PROVIDER
from nimriz_destinations.sample_events import sample_event
from tests import provider_support
from tests.sinks.meta import MetaSink, graph_error
from tests.sinks.server import Sink, SinkResponse

PIXEL_ID = "1234567890"
TOKEN = "EAAB-meta-system-user-token-9f3a"
CREDENTIALS: dict[str, Any] = {"pixel_id": PIXEL_ID, "access_token": TOKEN, "test_event_code": "TEST12345"}
EMAIL_HASH = "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"  # jane.doe@example.com


@pytest.fixture
def meta() -> Iterator[tuple[Sink, MetaSink]]:
    handler = MetaSink(pixel_id=PIXEL_ID, access_token=TOKEN, version=GRAPH_API_VERSION)
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(meta: tuple[Sink, MetaSink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"meta": meta[0].url})
    yield http
    http.close()


def make_item(
    event_type: str, index: int = 0, *, reason: str = "live", overrides: list[dict[str, Any]] | None = None
) -> DeliveryItem:
    event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id=f"evt_{index}")
    mapping = compile_mapping(PropertyMapping.model_validate({"overrides": overrides or []}))
    return DeliveryItem(f"dlv_{index}", event, mapping.apply(event, PROVIDER.default_payload), reason, 1)


def deliver(
    sender: HttpSender, items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS
) -> dict[int, Outcome]:
    return provider_support.deliver(sender, PROVIDER, items, credentials)


def test_leads_and_sales_are_accepted_in_one_batch(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    sink, handler = meta
    outcomes = deliver(sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    (request,) = sink.requests
    assert request.query == {"access_token": [TOKEN]}
    assert TOKEN.encode() not in request.body
    assert [(event["event_name"], event["event_id"]) for event in handler.accepted] == [
        ("Lead", "evt_0"),
        ("Purchase", "evt_1"),
    ]
    assert handler.accepted[0]["user_data"]["em"] == [EMAIL_HASH]


def test_only_conversions_with_a_positive_outcome_reach_meta(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    _, handler = meta
    items = [make_item("link.clicked", 0), make_item("conversion.refund", 1), make_item("conversion.sale", 2)]
    outcomes = deliver(sender, items)
    assert (outcomes[0].error_class, outcomes[1].error_class) == ("not_a_conversion", "unsupported_outcome")
    assert outcomes[2].verdict is Verdict.DELIVERED
    assert [event["event_id"] for event in handler.accepted] == ["evt_2"]


def test_a_raw_email_mapped_into_em_is_accepted_because_it_leaves_hashed(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    _, handler = meta
    overrides = [{"type": "template", "to": "user_data.em", "template": "{{conversion.email}}"}]
    outcomes = deliver(sender, [make_item("conversion.lead", overrides=overrides)])
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert handler.accepted[0]["user_data"]["em"] == [EMAIL_HASH]


def test_a_test_send_reaches_test_events_with_its_code(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    _, handler = meta
    outcomes = deliver(sender, [make_item("conversion.lead", reason="test")])
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert handler.test_event_codes == ["TEST12345"]


def test_one_bad_event_fails_the_whole_batch_permanently(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    _, handler = meta
    # A mapping that sends event_time in milliseconds: Meta refuses the whole request.
    in_ms = int((datetime.now(UTC) + timedelta(seconds=1)).timestamp() * 1000)
    items = [
        make_item("conversion.lead", 0),
        make_item("conversion.lead", 1, overrides=[{"type": "static", "to": "event_time", "value": in_ms}]),
    ]
    outcomes = deliver(sender, items)
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.PERMANENT, "meta_error_100")
    }
    assert "data[1]" in (outcomes[0].message or "")
    assert handler.accepted == []


def test_a_wrong_access_token_is_unauthorized(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    outcomes = deliver(sender, [make_item("conversion.lead")], {**CREDENTIALS, "access_token": "EAAB-revoked"})
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "unauthorized")


def test_throttling_is_retried_with_the_servers_retry_after(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    sink, handler = meta
    sink.script.append(graph_error(17, "(#17) User request limit reached", headers={"Retry-After": "30"}))
    sink.script.append(SinkResponse(429, {"error": {"message": "slow down", "code": 4}}, {"Retry-After": "15"}))
    first = deliver(sender, [make_item("conversion.lead")])[0]
    second = deliver(sender, [make_item("conversion.lead")])[0]
    assert (first.verdict, first.error_class, first.retry_after) == (Verdict.RETRY, "meta_error_17", 30)
    assert (second.verdict, second.retry_after) == (Verdict.RETRY, 15)
    assert deliver(sender, [make_item("conversion.lead")])[0].verdict is Verdict.DELIVERED
    assert len(handler.accepted) == 1
