"""Mixpanel adapter → HttpSender (egress override) → the Mixpanel sink (/import, and /track as Mixpanel runs it),
over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.mixpanel import PROVIDER
from tests.provider_support import deliver, make_event, make_item
from tests.sinks.mixpanel import MixpanelSink, mixpanel_sink, rate_limited
from tests.sinks.server import Sink, SinkResponse

TOKEN = "mp_integration_token"
TOKEN_ONLY = {"project_token": TOKEN, "region": "eu"}
IMPORT = TOKEN_ONLY | {
    "project_id": "4242",
    "service_account_username": "sa.nimriz",
    "service_account_secret": "sa-secret",
}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def mixpanel() -> Iterator[tuple[Sink, MixpanelSink]]:
    handler = mixpanel_sink(TOKEN, "4242", "sa.nimriz", "sa-secret")
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(mixpanel: tuple[Sink, MixpanelSink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"mixpanel": mixpanel[0].url})
    yield http
    http.close()


def test_a_single_event_is_imported(mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender) -> None:
    sink, handler = mixpanel
    item = make_item(PROVIDER, make_event("conversion.refund"))
    outcomes = deliver(sender, PROVIDER, [item], IMPORT)
    assert outcomes[0].verdict is Verdict.DELIVERED
    (event,) = handler.accepted
    assert (event["event"], event["properties"]["revenue"]) == ("Refund", -49.9)
    assert sink.requests[0].path == "/import" and sink.requests[0].query["strict"] == ["1"]


def test_a_batch_is_imported_in_one_request_and_dedups_on_resend(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    sink, handler = mixpanel
    batch = [make_item(PROVIDER, make_event(event_id=f"e-{i}")) for i in range(6)]
    deliver(sender, PROVIDER, batch, IMPORT)
    outcomes = deliver(sender, PROVIDER, batch, IMPORT)
    assert {o.verdict for o in outcomes.values()} == {Verdict.DELIVERED}
    assert len(sink.requests) == 2 and len(handler.accepted) == 6


def test_without_a_service_account_events_are_imported_with_the_project_token(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    sink, handler = mixpanel
    batch = [make_item(PROVIDER, make_event(event_id=f"t-{i}")) for i in range(3)]
    outcomes = deliver(sender, PROVIDER, batch, TOKEN_ONLY)
    assert {o.verdict for o in outcomes.values()} == {Verdict.DELIVERED}
    assert handler.dropped == [] and len(handler.accepted) == 3
    assert sink.requests[0].path == "/import" and sink.requests[0].query == {"strict": ["1"], "ip": ["0"]}


def test_a_10_day_old_event_is_imported_with_the_project_token(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    _, handler = mixpanel
    old = make_item(PROVIDER, make_event(event_id="ten-days-old", age_seconds=10 * 24 * 3600))
    outcomes = deliver(sender, PROVIDER, [old], TOKEN_ONLY)
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert [event["properties"]["$insert_id"] for event in handler.accepted] == ["ten-days-old"]


def test_the_sink_drops_events_older_than_5_days_on_track_like_mixpanel(mixpanel: tuple[Sink, MixpanelSink]) -> None:
    sink, handler = mixpanel
    old, recent = (
        {"event": "Link Clicked", "properties": {"token": TOKEN, "distinct_id": name, "time": int(time.time()) - age}}
        for name, age in (("old", 6 * 24 * 3600), ("recent", 60))
    )
    answer = httpx.post(f"{sink.url}/track?verbose=1", content=json.dumps([old, recent]), headers=JSON)
    assert answer.json() == {"status": 1, "error": None}  # Mixpanel reports success: the old event is dropped silently
    assert [dropped.reason for dropped in handler.dropped] == ["older than 5 days"]
    assert [event["properties"]["distinct_id"] for event in handler.accepted] == ["recent"]


def test_the_sink_refuses_import_with_a_wrong_project_token(mixpanel: tuple[Sink, MixpanelSink]) -> None:
    sink, handler = mixpanel
    answer = httpx.post(f"{sink.url}/import?strict=1", content=b"[]", headers=JSON, auth=("not-the-token", ""))
    assert answer.status_code == 401 and handler.accepted == []


def test_a_wrong_service_account_is_permanent(mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender) -> None:
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], IMPORT | {"service_account_secret": "nope"})
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "http_401")
    assert "nope" not in (outcomes[0].message or "")


def test_an_invalid_event_fails_alone_and_its_batch_mates_are_imported(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    _, handler = mixpanel
    bad = make_item(
        PROVIDER, make_event(event_id="bad"), overrides=[{"type": "static", "to": "properties.time", "value": "soon"}]
    )
    good = [make_item(PROVIDER, make_event(event_id=f"ok-{i}")) for i in range(2)]
    outcomes = deliver(sender, PROVIDER, [good[0], bad, good[1]], IMPORT)
    assert {p: o.verdict for p, o in outcomes.items()} == {
        0: Verdict.DELIVERED,
        1: Verdict.PERMANENT,
        2: Verdict.DELIVERED,
    }
    assert "properties.time" in (outcomes[1].message or "")
    assert sorted(event["properties"]["$insert_id"] for event in handler.accepted) == ["ok-0", "ok-1"]


def test_an_invalid_event_imported_with_the_project_token_fails_alone(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    _, handler = mixpanel
    bad = make_item(
        PROVIDER,
        make_event(event_id="bad"),
        overrides=[{"type": "static", "to": "properties.distinct_id", "value": "undefined"}],
    )
    good = make_item(PROVIDER, make_event(event_id="good"))
    outcomes = deliver(sender, PROVIDER, [bad, good], TOKEN_ONLY)
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "mixpanel_invalid_event")
    assert "properties.distinct_id" in (outcomes[0].message or "")
    assert outcomes[1].verdict is Verdict.DELIVERED
    assert [event["properties"]["$insert_id"] for event in handler.accepted] == ["good"]


def test_a_rate_limit_is_throttled_for_mixpanels_rolling_minute(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    sink, handler = mixpanel
    sink.script.append(rate_limited())
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], IMPORT)
    assert (outcomes[0].verdict, outcomes[0].throttled, outcomes[0].retry_after) == (Verdict.RETRY, True, 60.0)
    assert deliver(sender, PROVIDER, [make_item(PROVIDER)], IMPORT)[0].verdict is Verdict.DELIVERED
    assert len(handler.accepted) == 1


def test_a_gateway_error_is_retried(mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender) -> None:
    sink, _ = mixpanel
    sink.script.append(SinkResponse(502, "Bad Gateway"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], IMPORT)
    assert outcomes[0].verdict is Verdict.RETRY
