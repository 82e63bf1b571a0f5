"""Mixpanel adapter → HttpSender (egress override) → the Mixpanel sink (/import and /track), over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.mixpanel import PROVIDER
from tests.provider_support import deliver, make_event, make_item
from tests.sinks.mixpanel import MixpanelSink, mixpanel_sink
from tests.sinks.server import Sink, SinkResponse

TOKEN = "mp_integration_token"
TRACK = {"project_token": TOKEN, "region": "eu"}
IMPORT = TRACK | {"project_id": "4242", "service_account_username": "sa.nimriz", "service_account_secret": "sa-secret"}


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


def test_events_are_tracked_with_the_token_when_there_is_no_service_account(
    mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender
) -> None:
    sink, handler = mixpanel
    batch = [make_item(PROVIDER, make_event(event_id=f"t-{i}")) for i in range(3)]
    outcomes = deliver(sender, PROVIDER, batch, TRACK)
    assert {o.verdict for o in outcomes.values()} == {Verdict.DELIVERED}
    assert handler.dropped == [] and len(handler.accepted) == 3
    assert sink.requests[0].path == "/track" and sink.requests[0].query == {"verbose": ["1"], "ip": ["0"]}


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


def test_a_track_200_reporting_an_error_is_permanent(mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender) -> None:
    sink, _ = mixpanel
    sink.script.append(SinkResponse(200, {"status": 0, "error": "data, missing or empty"}))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], TRACK)
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "mixpanel_rejected")


def test_a_rate_limit_is_retried_after_retry_after(mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender) -> None:
    sink, _ = mixpanel
    sink.script.append(
        SinkResponse(
            429,
            {"code": 429, "error": "Project exceeded rate limits. Please retry the request with exponential backoff."},
            {"Retry-After": "45"},
        )
    )
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], IMPORT)
    assert (outcomes[0].verdict, outcomes[0].retry_after) == (Verdict.RETRY, 45.0)


def test_a_gateway_error_is_retried(mixpanel: tuple[Sink, MixpanelSink], sender: HttpSender) -> None:
    sink, _ = mixpanel
    sink.script.append(SinkResponse(502, "Bad Gateway"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], IMPORT)
    assert outcomes[0].verdict is Verdict.RETRY
