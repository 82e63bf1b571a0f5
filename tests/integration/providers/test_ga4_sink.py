"""GA4 adapter → HttpSender (egress override) → the GA4 sink, over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.ga4 import PROVIDER
from tests.provider_support import deliver, make_event, make_item
from tests.sinks.ga4 import GA4Sink, ga4_sink, validation_messages
from tests.sinks.server import Sink, SinkResponse

CREDENTIALS = {"measurement_id": "G-ABC123XYZ", "api_secret": "ga4-s3cret/+", "region": "eu"}
# A mapping past every GA4 limit: 30 extra params (one with a long name), a long value, long user properties.
OVER_THE_LIMITS: list[dict[str, Any]] = [
    {"type": "static", "to": "name", "value": "campaign_link_click_from_spring_newsletter_2026"},
    {"type": "static", "to": "params.note", "value": "n" * 150},
    {"type": "static", "to": f"params.{'long_param_name_' * 3}", "value": 1},
    *({"type": "static", "to": f"params.extra_{n}", "value": n} for n in range(30)),
    {"type": "static", "to": f"user_properties.{'membership_tier_' * 2}.value", "value": "platinum-" * 5},
]


@pytest.fixture
def ga4() -> Iterator[tuple[Sink, GA4Sink]]:
    handler = ga4_sink(CREDENTIALS["measurement_id"], CREDENTIALS["api_secret"])
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(ga4: tuple[Sink, GA4Sink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"ga4": ga4[0].url})
    yield http
    http.close()


def test_a_click_is_collected_with_valid_events(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, handler = ga4
    item = make_item(PROVIDER, make_event("link.clicked"))
    outcomes = deliver(sender, PROVIDER, [item], CREDENTIALS)
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert handler.dropped == []
    (event,) = handler.accepted
    assert (event["name"], event["client_id"]) == ("link_click", item.payload["client_id"])
    (request,) = sink.requests
    assert request.path == "/mp/collect" and request.query["api_secret"] == ["ga4-s3cret/+"]


def test_a_batch_is_split_by_visitor_and_every_event_arrives_valid(
    ga4: tuple[Sink, GA4Sink], sender: HttpSender
) -> None:
    sink, handler = ga4
    events = [make_event("conversion.sale", visitor=v, event_id=f"e{i}") for i, v in enumerate("aabba")]
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER, e) for e in events], CREDENTIALS)
    assert {o.verdict for o in outcomes.values()} == {Verdict.DELIVERED} and len(outcomes) == 5
    assert len(sink.requests) == 2
    assert all(validation_messages(request.json()) == [] for request in sink.requests)
    assert sorted(event["params"]["transaction_id"] for event in handler.accepted) == [f"e{i}" for i in range(5)]


def test_a_test_send_is_validated_and_not_collected(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, handler = ga4
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER, reason="test")], CREDENTIALS)
    assert outcomes[0].verdict is Verdict.DELIVERED and "validated" in (outcomes[0].message or "")
    assert sink.requests[0].path == "/debug/mp/collect" and handler.accepted == []


def test_a_test_send_the_validation_server_rejects_is_permanent_with_its_messages(
    ga4: tuple[Sink, GA4Sink], sender: HttpSender
) -> None:
    item = make_item(PROVIDER, overrides=[{"type": "static", "to": "name", "value": "session_start"}], reason="test")
    outcomes = deliver(sender, PROVIDER, [item], CREDENTIALS)
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "ga4_validation_failed")
    assert "NAME_RESERVED" in (outcomes[0].message or "")


def test_a_wrong_api_secret_is_invisible_on_collect(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    # GA4 answers 2xx and drops the hit: the adapter cannot tell, which is why test sends validate first.
    _, handler = ga4
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], CREDENTIALS | {"api_secret": "wrong"})
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert [dropped.reason for dropped in handler.dropped] == ["invalid api_secret"]


def test_an_auth_refusal_from_google_is_permanent(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, _ = ga4
    sink.script.append(SinkResponse(403, "Forbidden"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], CREDENTIALS)
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "http_403")


def test_a_429_is_throttled_on_our_schedule(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    # GA4 documents no 429 ("always returns a 2xx status code if the HTTP request was received"), so no wait either:
    # one could only come from something in between.
    sink, _ = ga4
    sink.script.append(SinkResponse(429, "Too Many Requests"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], CREDENTIALS)
    assert (outcomes[0].verdict, outcomes[0].throttled, outcomes[0].retry_after) == (Verdict.RETRY, True, None)


def test_a_server_error_is_retried_and_the_retry_delivers(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, handler = ga4
    sink.script.append(SinkResponse(503, "Service Unavailable"))
    item = make_item(PROVIDER)
    first = deliver(sender, PROVIDER, [item], CREDENTIALS)
    second = deliver(sender, PROVIDER, [item], CREDENTIALS)
    assert (first[0].verdict, second[0].verdict) == (Verdict.RETRY, Verdict.DELIVERED)
    assert len(handler.accepted) == 1


def test_a_click_carries_what_realtime_and_session_reports_need(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    _, handler = ga4
    item = make_item(PROVIDER, make_event("link.clicked"))
    assert deliver(sender, PROVIDER, [item], CREDENTIALS)[0].verdict is Verdict.DELIVERED
    (event,) = handler.accepted
    assert event["params"]["session_id"] == item.payload["params"]["session_id"]
    assert event["params"]["engagement_time_msec"] == 1


def test_an_event_past_ga4s_limits_is_cut_collected_and_the_cuts_reported(
    ga4: tuple[Sink, GA4Sink], sender: HttpSender
) -> None:
    _, handler = ga4
    item = make_item(PROVIDER, make_event("link.clicked"), overrides=OVER_THE_LIMITS)
    outcome = deliver(sender, PROVIDER, [item], CREDENTIALS)[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert handler.dropped == []  # GA4 would have dropped the uncut event without a word
    (event,) = handler.accepted
    assert len(event["params"]) == 25 and event["params"]["session_id"] == item.payload["params"]["session_id"]
    message = outcome.message or ""
    assert message.startswith("truncated to GA4's limits: event name cut to 40 characters")
    assert "param values cut to 100 characters: note" in message and "user property" in message


def test_a_test_send_past_the_limits_passes_validation_and_reports_the_cuts(
    ga4: tuple[Sink, GA4Sink], sender: HttpSender
) -> None:
    item = make_item(PROVIDER, make_event("link.clicked"), overrides=OVER_THE_LIMITS, reason="test")
    outcome = deliver(sender, PROVIDER, [item], CREDENTIALS)[0]
    assert outcome.verdict is Verdict.DELIVERED
    assert "validated" in (outcome.message or "") and "truncated" in (outcome.message or "")


def test_the_events_consent_reaches_ga4(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, handler = ga4
    event = make_event("conversion.sale") | {"consent": {"ad_user_data": "granted", "ad_personalization": "denied"}}
    assert deliver(sender, PROVIDER, [make_item(PROVIDER, event)], CREDENTIALS)[0].verdict is Verdict.DELIVERED
    assert sink.requests[0].json()["consent"] == {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}
    assert handler.dropped == [] and len(handler.accepted) == 1


def test_the_sink_reports_what_ga4_validation_would() -> None:
    body = {
        "client_id": "1234567890.1234567890",
        "consent": {"ad_user_data": "yes"},
        "user_properties": {f"p{n}": {"value": "x"} for n in range(26)} | {"x" * 25: {"value": "y" * 37}},
        "events": [{"name": "e" * 41, "params": {f"q{n}": n for n in range(26)} | {"v": "z" * 101}}],
    }
    codes = {(message["fieldPath"], message["validationCode"]) for message in validation_messages(body)}
    assert codes == {
        ("consent.ad_user_data", "VALUE_INVALID"),
        ("user_properties", "EXCEEDED_MAX_ENTITIES"),
        (f"user_properties.{'x' * 25}", "NAME_INVALID"),
        (f"user_properties.{'x' * 25}.value", "VALUE_OUT_OF_BOUNDS"),
        ("events[0]", "NAME_INVALID"),
        ("events[0].params", "EXCEEDED_MAX_ENTITIES"),
        ("events[0].params.v", "VALUE_OUT_OF_BOUNDS"),
    }
