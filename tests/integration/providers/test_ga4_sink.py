"""GA4 adapter → HttpSender (egress override) → the GA4 sink, over real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.ga4 import PROVIDER
from tests.provider_support import deliver, make_event, make_item
from tests.sinks.ga4 import GA4Sink, ga4_sink, validation_messages
from tests.sinks.server import Sink, SinkResponse

CREDENTIALS = {"measurement_id": "G-ABC123XYZ", "api_secret": "ga4-s3cret/+", "region": "eu"}


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


def test_429_is_retried_after_retry_after(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, _ = ga4
    sink.script.append(SinkResponse(429, "Too Many Requests", {"Retry-After": "30"}))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], CREDENTIALS)
    assert (outcomes[0].verdict, outcomes[0].retry_after) == (Verdict.RETRY, 30.0)


def test_a_server_error_is_retried_and_the_retry_delivers(ga4: tuple[Sink, GA4Sink], sender: HttpSender) -> None:
    sink, handler = ga4
    sink.script.append(SinkResponse(503, "Service Unavailable"))
    item = make_item(PROVIDER)
    first = deliver(sender, PROVIDER, [item], CREDENTIALS)
    second = deliver(sender, PROVIDER, [item], CREDENTIALS)
    assert (first[0].verdict, second[0].verdict) == (Verdict.RETRY, Verdict.DELIVERED)
    assert len(handler.accepted) == 1
