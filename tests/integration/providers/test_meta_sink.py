"""Meta adapter → HttpSender → a Graph-like sink over real loopback sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, apply_privacy, compile_mapping
from nimriz_destinations.providers.base import API_VERSION_RETIRED, DeliveryItem, Outcome, Verdict
from nimriz_destinations.providers.common import sha256_hex
from nimriz_destinations.providers.meta import GRAPH_API_VERSION, PROVIDER
from nimriz_destinations.sample_events import sample_event
from tests import provider_support
from tests.sinks.meta import MetaSink, app_throttled, buc_throttled
from tests.sinks.server import Sink, SinkRequest, SinkResponse

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
    event_type: str,
    index: int = 0,
    *,
    reason: str = "live",
    overrides: list[dict[str, Any]] | None = None,
    privacy_mode: str = "standard",
    without_currency: bool = False,
) -> DeliveryItem:
    event = sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", event_id=f"evt_{index}", privacy_mode=privacy_mode
    )
    if without_currency:
        del event["conversion"]["currency"]
    mapping = compile_mapping(PropertyMapping.model_validate({"overrides": overrides or []}))
    return DeliveryItem(f"dlv_{index}", apply_privacy(event), mapping.apply(event, PROVIDER.default_payload), reason, 1)


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


def test_a_purchase_without_currency_fails_alone_and_the_lead_beside_it_is_delivered(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    sink, handler = meta
    items = [make_item("conversion.sale", 0, without_currency=True), make_item("conversion.lead", 1)]
    outcomes = deliver(sender, items)
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "purchase_without_currency")
    assert outcomes[1].verdict is Verdict.DELIVERED
    assert [event["event_id"] for event in handler.accepted] == ["evt_1"]
    assert len(sink.requests) == 1


def test_a_batch_meta_refuses_naming_one_event_fails_that_event_and_delivers_the_rest(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    sink, handler = meta
    # A mapping that puts the raw fbclid in fbc: the adapter sends it, Meta refuses the whole request naming it.
    raw_fbc = [{"type": "static", "to": "user_data.fbc", "value": "IwAR-raw-fbclid"}]
    items = [make_item("conversion.lead", 0), make_item("conversion.lead", 1, overrides=raw_fbc)]
    items.append(make_item("conversion.sale", 2))
    outcomes = deliver(sender, items)
    assert (outcomes[1].verdict, outcomes[1].error_class) == (Verdict.PERMANENT, "meta_error_100")
    assert "data[1]: user_data.fbc" in (outcomes[1].message or "")
    assert outcomes[0].verdict is Verdict.DELIVERED and outcomes[2].verdict is Verdict.DELIVERED
    assert [event["event_id"] for event in handler.accepted] == ["evt_0", "evt_2"]
    assert [len(request.json()["data"]) for request in sink.requests] == [3, 2]


def test_location_keys_arrive_hashed_and_city_and_state_only_in_standard_mode(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    _, handler = meta
    outcomes = deliver(
        sender, [make_item("conversion.lead", 0), make_item("conversion.lead", 1, privacy_mode="strict")]
    )
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    standard, strict = (event["user_data"] for event in handler.accepted)
    assert (standard["country"], standard["ct"], standard["st"]) == (
        [sha256_hex("us")],
        [sha256_hex("sanfrancisco")],
        [sha256_hex("ca")],
    )
    assert strict["country"] == [sha256_hex("us")]
    assert "ct" not in strict and "st" not in strict


def test_limited_data_use_reaches_meta_on_a_destination_asking_for_it_and_always_in_strict_mode(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    _, handler = meta
    ldu = {"data_processing_options": ["LDU"], "data_processing_options_country": 0, "data_processing_options_state": 0}
    standard, strict = make_item("conversion.lead", 0), make_item("conversion.lead", 1, privacy_mode="strict")
    outcomes = deliver(sender, [standard, strict], {**CREDENTIALS, "limited_data_use": True})
    outcomes |= deliver(
        sender, [make_item("conversion.lead", 2), make_item("conversion.lead", 3, privacy_mode="strict")]
    )
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    sent = [{key: event.get(key) for key in ldu} for event in handler.accepted]
    assert sent == [ldu, ldu, dict.fromkeys(ldu), ldu]  # the standard event of a destination not asking: no flags


def test_the_default_action_source_needs_no_user_agent(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    _, handler = meta
    assert deliver(sender, [make_item("conversion.lead")])[0].verdict is Verdict.DELIVERED
    assert handler.accepted and handler.website_without_user_agent == []


def test_the_destinations_action_source_reaches_meta(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    _, handler = meta
    outcomes = deliver(sender, [make_item("conversion.sale")], {**CREDENTIALS, "action_source": "physical_store"})
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert handler.accepted[0]["action_source"] == "physical_store"


# -- the sink refuses what Meta refuses ------------------------------------------------------------------------


def post_to_sink(handler: MetaSink, events: list[dict[str, Any]]) -> SinkResponse:
    path = f"/{GRAPH_API_VERSION}/{PIXEL_ID}/events"
    body = json.dumps({"data": events}).encode()
    return handler(SinkRequest("POST", path, {"access_token": [TOKEN]}, {"content-type": "application/json"}, body))


def server_event(age: timedelta = timedelta(0), **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "Lead",
        "event_time": int((datetime.now(UTC) - age).timestamp()),
        "action_source": "website",
        "user_data": {"em": [EMAIL_HASH]},
    }
    return {**event, **fields}


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (server_event(event_name="Purchase"), "custom_data.currency is required"),
        (server_event(event_name="Purchase", custom_data={"currency": "dollars", "value": 1}), "ISO 4217"),
        (server_event(event_name="Purchase", custom_data={"currency": "USD"}), "custom_data.value is required"),
        (server_event(age=timedelta(days=8)), "more than 7 days"),
        (server_event(age=timedelta(days=63), action_source="physical_store"), "more than 62 days"),
        (server_event(action_source="web"), "action_source"),
        (server_event(user_data={"country": [sha256_hex("us")]}), "no customer information parameter"),
        (server_event(user_data={"em": [EMAIL_HASH], "ct": ["San Francisco"]}), "user_data.ct must be SHA-256"),
        (server_event(data_processing_options="LDU"), "data_processing_options must be an array"),
        (server_event(data_processing_options=["LDU", "GDPR"]), "data_processing_options must be an array"),
        (server_event(data_processing_options=["LDU"], data_processing_options_country="0"), "must be an integer"),
        (server_event(data_processing_options=["LDU"], data_processing_options_state=None), "must be an integer"),
    ],
)
def test_the_sink_refuses_the_whole_batch_naming_the_event_meta_would_refuse(
    event: dict[str, Any], problem: str
) -> None:
    handler = MetaSink(pixel_id=PIXEL_ID, access_token=TOKEN, version=GRAPH_API_VERSION)
    response = post_to_sink(handler, [server_event(), event])
    assert response.status == 400
    error = response.body["error"]
    assert (error["code"], error["error_subcode"], json.loads(error["error_data"])) == (
        100,
        2804019,
        {"event_index": 1},
    )
    assert error["error_user_msg"].startswith("data[1]: ") and problem in error["error_user_msg"]
    assert handler.accepted == []


def test_the_sink_accepts_a_physical_store_event_a_month_old() -> None:
    handler = MetaSink(pixel_id=PIXEL_ID, access_token=TOKEN, version=GRAPH_API_VERSION)
    response = post_to_sink(handler, [server_event(age=timedelta(days=30), action_source="physical_store")])
    assert response.status == 200 and len(handler.accepted) == 1


def test_a_wrong_access_token_is_unauthorized(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    outcomes = deliver(sender, [make_item("conversion.lead")], {**CREDENTIALS, "access_token": "EAAB-revoked"})
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "unauthorized")


def test_a_business_use_case_throttle_waits_metas_time_to_regain_access_and_spares_the_attempts(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    sink, handler = meta
    sink.script.extend(buc_throttled(regain_minutes=19) for _ in range(6))
    now = time.time()
    writes = provider_support.records(lambda: send_one(sender, make_item("conversion.lead")), 6, now=now)
    assert [(w.entries[-1].outcome, w.entries[-1].error_class) for w in writes] == [
        ("throttled", "meta_error_80004")
    ] * 6
    assert all(19 * 60 <= (w.next_attempt_at or 0) - now <= 19 * 60 * 1.2 + 1 for w in writes)
    assert [w.summary.status for w in writes] == ["retrying"] * 6 and writes[-1].dead_letter is None
    assert all("retry-after" not in {name.lower() for name in answer.headers} for answer in sink.responses)
    assert deliver(sender, [make_item("conversion.lead")])[0].verdict is Verdict.DELIVERED
    assert len(handler.accepted) == 1


def test_a_retired_graph_version_fails_permanently_as_api_version_retired(
    meta: tuple[Sink, MetaSink], sender: HttpSender
) -> None:
    # Meta's answer to a deprecated version: "(#2635) You are calling a deprecated version of the Ads API".
    _, handler = meta
    handler.version, handler.retired_versions = "v28.0", frozenset({GRAPH_API_VERSION})
    outcomes = deliver(sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.PERMANENT, API_VERSION_RETIRED)
    }
    assert GRAPH_API_VERSION in (outcomes[0].message or "")
    assert handler.accepted == []


def test_an_app_throttle_without_a_time_waits_our_schedule(meta: tuple[Sink, MetaSink], sender: HttpSender) -> None:
    sink, _ = meta
    sink.script.append(app_throttled())
    (write,) = provider_support.records(lambda: send_one(sender, make_item("conversion.lead")), 1, now=1000.0)
    assert (write.entries[-1].outcome, write.entries[-1].error_class) == ("throttled", "meta_error_4")
    assert 48 <= (write.next_attempt_at or 0) - 1000.0 <= 72  # the first retry's 60 s ± 20 %


def send_one(sender: HttpSender, item: DeliveryItem) -> SendResult:
    return provider_support.send(sender, PROVIDER, [item], CREDENTIALS)[0]
