"""TikTok adapter → HttpSender → a TikTok-like sink over real loopback sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import API_VERSION_RETIRED, DeliveryItem, Outcome, Verdict
from nimriz_destinations.providers.tiktok import PROVIDER
from nimriz_destinations.sample_events import sample_event
from tests import provider_support
from tests.sinks.server import Sink, SinkRequest
from tests.sinks.tiktok import TikTokSink, tiktok_answer, tiktok_throttled

PIXEL_CODE = "C4A1B2C3D4E5F6G7H8I9"
TOKEN = "tt-events-api-token-77c1"
CREDENTIALS: dict[str, Any] = {"pixel_code": PIXEL_CODE, "access_token": TOKEN, "test_event_code": "TEST98765"}
PHONE_HASH = "36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4"  # +14155550123
DEFAULT = compile_mapping(PropertyMapping())


@pytest.fixture
def tiktok() -> Iterator[tuple[Sink, TikTokSink]]:
    handler = TikTokSink(pixel_code=PIXEL_CODE, access_token=TOKEN)
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(tiktok: tuple[Sink, TikTokSink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"tiktok": tiktok[0].url})
    yield http
    http.close()


def make_item(event_type: str, index: int = 0, *, reason: str = "live", privacy_mode: str = "standard") -> DeliveryItem:
    event = sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", event_id=f"evt_{index}", privacy_mode=privacy_mode
    )
    event["click_ids"] = {"ttclid": f"E.C.P.ttclid-{index}"}
    return DeliveryItem(f"dlv_{index}", event, DEFAULT.apply(event, PROVIDER.default_payload), reason, 1)


def deliver(
    sender: HttpSender, items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS
) -> dict[int, Outcome]:
    return provider_support.deliver(sender, PROVIDER, items, credentials)


def test_leads_and_sales_are_accepted(tiktok: tuple[Sink, TikTokSink], sender: HttpSender) -> None:
    sink, handler = tiktok
    outcomes = deliver(sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    (request,) = sink.requests
    assert request.header("access-token") == TOKEN
    assert [(event["event"], event["event_id"]) for event in handler.accepted] == [
        ("SubmitForm", "evt_0"),
        ("Purchase", "evt_1"),
    ]
    assert handler.legacy_named == []  # TikTok's current standard event names only
    assert handler.accepted[0]["user"]["ttclid"] == "E.C.P.ttclid-0"
    assert handler.accepted[0]["user"]["phone"] == PHONE_HASH


def test_limited_data_use_reaches_tiktok_on_a_destination_asking_for_it_and_always_in_strict_mode(
    tiktok: tuple[Sink, TikTokSink], sender: HttpSender
) -> None:
    _, handler = tiktok
    standard, strict = make_item("conversion.lead", 0), make_item("conversion.lead", 1, privacy_mode="strict")
    outcomes = deliver(sender, [standard, strict], {**CREDENTIALS, "limited_data_use": True})
    outcomes |= deliver(
        sender, [make_item("conversion.lead", 2), make_item("conversion.lead", 3, privacy_mode="strict")]
    )
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert [event.get("limited_data_use") for event in handler.accepted] == [True, True, None, True]


def test_the_sink_refuses_a_limited_data_use_that_is_not_a_boolean(tiktok: tuple[Sink, TikTokSink]) -> None:
    _, handler = tiktok

    def post(limited_data_use: object) -> dict[str, Any]:
        event = {"event": "SubmitForm", "event_time": 1_700_000_000, "user": {}, "limited_data_use": limited_data_use}
        body = {"event_source": "web", "event_source_id": PIXEL_CODE, "data": [event]}
        request = SinkRequest(
            "POST", "/open_api/v1.3/event/track/", {}, {"access-token": TOKEN}, json.dumps(body).encode()
        )
        answer: dict[str, Any] = handler(request).body
        return answer

    refused = post("true")
    assert refused["code"] == 40002 and "limited_data_use: must be a boolean" in refused["message"]
    assert post(True)["code"] == 0


def test_a_legacy_event_name_is_still_accepted_but_noted(tiktok: tuple[Sink, TikTokSink], sender: HttpSender) -> None:
    _, handler = tiktok
    legacy = compile_mapping(
        PropertyMapping.model_validate({"overrides": [{"type": "static", "to": "event", "value": "CompletePayment"}]})
    )
    item = make_item("conversion.lead")
    item = DeliveryItem(item.delivery_id, item.event, legacy.apply(item.event, PROVIDER.default_payload), "live", 1)
    assert deliver(sender, [item])[0].verdict is Verdict.DELIVERED
    assert [event["event"] for event in handler.legacy_named] == ["CompletePayment"]


def test_a_test_send_carries_the_test_event_code(tiktok: tuple[Sink, TikTokSink], sender: HttpSender) -> None:
    _, handler = tiktok
    assert deliver(sender, [make_item("conversion.lead", reason="test")])[0].verdict is Verdict.DELIVERED
    assert handler.test_event_codes == ["TEST98765"]


def test_a_wrong_token_answered_with_http_200_is_still_unauthorized(
    tiktok: tuple[Sink, TikTokSink], sender: HttpSender
) -> None:
    sink, handler = tiktok
    outcome = deliver(sender, [make_item("conversion.lead")], {**CREDENTIALS, "access_token": "tt-revoked"})[0]
    assert sink.responses[0].status == 200
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "unauthorized")
    assert handler.accepted == []


def test_an_unknown_pixel_is_a_permanent_parameter_error(tiktok: tuple[Sink, TikTokSink], sender: HttpSender) -> None:
    outcome = deliver(sender, [make_item("conversion.lead")], {**CREDENTIALS, "pixel_code": "C0THERPIXEL0000"})[0]
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "tiktok_40002")


@pytest.mark.parametrize("code", [40100, 40132, 61000])
def test_a_rate_limit_code_is_throttled_on_our_schedule_and_spares_the_attempts(
    tiktok: tuple[Sink, TikTokSink], sender: HttpSender, code: int
) -> None:
    sink, handler = tiktok
    sink.script.extend(tiktok_throttled(code) for _ in range(6))
    writes = provider_support.records(lambda: send_one(sender, make_item("conversion.lead")), 6, now=1000.0)
    assert [(w.entries[-1].outcome, w.entries[-1].error_class) for w in writes] == [("throttled", f"tiktok_{code}")] * 6
    # TikTok states no wait: our schedule's, growing with each request (60 s, 240 s, ... ± 20 %).
    waits = [(w.next_attempt_at or 0) - 1000.0 for w in writes[:5]]
    assert all(60 * 4**n * 0.8 - 1 <= wait <= 60 * 4**n * 1.2 + 1 for n, wait in enumerate(waits)), waits
    assert [w.summary.status for w in writes] == ["retrying"] * 6 and writes[-1].dead_letter is None
    assert deliver(sender, [make_item("conversion.lead")])[0].verdict is Verdict.DELIVERED
    assert len(handler.accepted) == 1


def test_a_retired_tiktok_version_fails_permanently_as_api_version_retired(
    tiktok: tuple[Sink, TikTokSink], sender: HttpSender
) -> None:
    # The official SDK's code for it: tiktok_code.py, ERROR_CODE_INVALID_API_VERSION = 40051.
    _, handler = tiktok
    handler.version, handler.retired_versions = "v1.4", frozenset({"v1.3"})
    outcomes = deliver(sender, [make_item("conversion.lead", 0), make_item("conversion.sale", 1)])
    assert {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()} == {
        (Verdict.PERMANENT, API_VERSION_RETIRED)
    }
    assert "v1.3" in (outcomes[0].message or "")
    assert handler.accepted == []


def test_a_batch_refused_for_one_bad_event_delivers_the_others(
    tiktok: tuple[Sink, TikTokSink], sender: HttpSender
) -> None:
    sink, handler = tiktok
    items = [make_item("conversion.lead", index) for index in range(3)]
    items[1].payload["user"]["ttclid"] = 40002  # TikTok refuses the request with code 40002, naming no event
    outcomes = deliver(sender, items)
    assert {n: outcome.verdict for n, outcome in outcomes.items()} == {
        0: Verdict.DELIVERED, 1: Verdict.PERMANENT, 2: Verdict.DELIVERED
    }  # fmt: skip
    assert outcomes[1].error_class == "tiktok_40002"
    assert sorted(event["event_id"] for event in handler.accepted) == ["evt_0", "evt_2"]
    carried = [[event["event_id"] for event in request.json()["data"]] for request in sink.requests]
    assert carried == [["evt_0", "evt_1", "evt_2"], ["evt_0"], ["evt_1", "evt_2"], ["evt_1"], ["evt_2"]]


def test_maintenance_is_retried_and_counted(tiktok: tuple[Sink, TikTokSink], sender: HttpSender) -> None:
    sink, _ = tiktok
    sink.script.append(tiktok_answer(60001, "System maintenance"))
    (write,) = provider_support.records(lambda: send_one(sender, make_item("conversion.lead")), 1, now=1000.0)
    assert (write.entries[-1].outcome, write.entries[-1].error_class) == ("retry", "tiktok_60001")
    assert write.throttled == 0


def send_one(sender: HttpSender, item: DeliveryItem) -> SendResult:
    return provider_support.send(sender, PROVIDER, [item], CREDENTIALS)[0]
