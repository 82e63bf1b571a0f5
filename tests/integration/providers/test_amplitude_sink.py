"""Amplitude adapter → HttpSender (egress override) → the Amplitude sink, over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.amplitude import PROVIDER
from nimriz_destinations.providers.base import DeliveryItem, ProviderResponse, Verdict
from tests.provider_support import deliver, make_event, make_item, records, send
from tests.sinks.amplitude import AmplitudeSink, amplitude_sink
from tests.sinks.server import Sink, SinkResponse

API_KEY = "amp_integration_key_42"
CREDENTIALS = {"api_key": API_KEY, "region": "eu"}
THROTTLED = "vh_throttled"
SILENCED = "vh_silenced"


@pytest.fixture
def amplitude() -> Iterator[tuple[Sink, AmplitudeSink]]:
    handler = amplitude_sink(API_KEY, throttled_devices={THROTTLED}, silenced_devices={SILENCED})
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(amplitude: tuple[Sink, AmplitudeSink]) -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True, egress_overrides={"amplitude": amplitude[0].url})
    yield http
    http.close()


def items(count: int) -> list[DeliveryItem]:
    return [make_item(PROVIDER, make_event("conversion.sale", event_id=f"e{i}")) for i in range(count)]


def test_a_single_event_is_ingested(amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender) -> None:
    sink, handler = amplitude
    outcomes = deliver(sender, PROVIDER, items(1), CREDENTIALS)
    assert outcomes[0].verdict is Verdict.DELIVERED
    (event,) = handler.accepted
    assert (event["event_type"], event["insert_id"], event["revenue"]) == ("Sale", "e0", 49.9)
    assert sink.requests[0].path == "/2/httpapi"


def test_a_batch_is_one_request_and_a_resent_batch_is_deduplicated(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    sink, handler = amplitude
    batch = items(5)
    first = deliver(sender, PROVIDER, batch, CREDENTIALS)
    again = deliver(sender, PROVIDER, batch, CREDENTIALS)
    assert {o.verdict for o in (*first.values(), *again.values())} == {Verdict.DELIVERED}
    assert len(sink.requests) == 2 and len(handler.accepted) == 5


def test_an_invalid_api_key_is_permanent_for_every_event(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    outcomes = deliver(sender, PROVIDER, items(2), CREDENTIALS | {"api_key": "wrong_key_123"})
    assert {(o.verdict, o.error_class) for o in outcomes.values()} == {(Verdict.PERMANENT, "http_400")}
    assert "Invalid API key" in (outcomes[0].message or "")


def test_an_invalid_event_fails_alone_and_the_others_go_through_on_their_resend_at_once(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    sink, handler = amplitude
    bad = make_item(PROVIDER, make_event(event_id="bad"), overrides=[{"type": "static", "to": "time", "value": "now"}])
    good = items(2)
    outcomes = deliver(sender, PROVIDER, [good[0], bad, good[1]], CREDENTIALS)
    assert {p: o.verdict for p, o in outcomes.items()} == {
        0: Verdict.DELIVERED,
        1: Verdict.PERMANENT,
        2: Verdict.DELIVERED,
    }
    assert len(sink.requests) == 2 and len(handler.accepted) == 2  # "remove those events and resend the rest"


def test_a_throttled_device_waits_30_seconds_and_the_rest_is_resent(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    throttled = make_item(
        PROVIDER, make_event(event_id="t1"), overrides=[{"type": "static", "to": "device_id", "value": THROTTLED}]
    )
    outcomes = deliver(sender, PROVIDER, [items(1)[0], throttled], CREDENTIALS)
    assert {p: (o.verdict, o.error_class, o.retry_after) for p, o in outcomes.items()} == {
        0: (Verdict.RETRY, "amplitude_batch_rejected", None),
        1: (Verdict.RETRY, "http_429", 30.0),
    }


def test_a_throttled_device_waits_amplitudes_30_seconds_and_spares_the_attempts(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    throttled = make_item(
        PROVIDER, make_event(event_id="t1"), overrides=[{"type": "static", "to": "device_id", "value": THROTTLED}]
    )
    writes = records(lambda: send(sender, PROVIDER, [throttled], CREDENTIALS)[0], 6, now=1000.0)
    assert [(w.entries[-1].outcome, w.entries[-1].http_status) for w in writes] == [("throttled", 429)] * 6
    assert all(30 <= (w.next_attempt_at or 0) - 1000.0 <= 36 for w in writes)
    assert [w.summary.status for w in writes] == ["retrying"] * 6 and writes[-1].dead_letter is None


def test_a_429_with_retry_after_is_honoured(amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender) -> None:
    sink, _ = amplitude
    sink.script.append(SinkResponse(429, {"code": 429, "error": "Too many requests"}, {"Retry-After": "90"}))
    outcomes = deliver(sender, PROVIDER, items(1), CREDENTIALS)
    assert (outcomes[0].verdict, outcomes[0].retry_after) == (Verdict.RETRY, 90.0)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender, status: int) -> None:
    sink, _ = amplitude
    sink.script.append(SinkResponse(status, {"code": status}))
    outcomes = deliver(sender, PROVIDER, items(1), CREDENTIALS)
    assert outcomes[0].verdict is Verdict.RETRY


def test_a_short_user_id_is_refused_alone_and_its_batch_mates_are_ingested(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    _, handler = amplitude
    short = make_item(
        PROVIDER, make_event(event_id="short"), overrides=[{"type": "static", "to": "user_id", "value": "u1"}]
    )
    good = items(2)
    outcomes = deliver(sender, PROVIDER, [good[0], short, good[1]], CREDENTIALS)
    assert {p: o.verdict for p, o in outcomes.items()} == {
        0: Verdict.DELIVERED,
        1: Verdict.SKIPPED,
        2: Verdict.DELIVERED,
    }
    assert sorted(event["insert_id"] for event in handler.accepted) == ["e0", "e1"]


def test_the_sink_rejects_a_short_id_like_amplitude_and_the_adapter_fails_only_that_event(
    amplitude: tuple[Sink, AmplitudeSink],
) -> None:
    sink, handler = amplitude
    built = PROVIDER.build_requests(items(2), CREDENTIALS, now=0)
    (request,) = built.requests
    body = json.loads(request.body)
    body["events"][1]["user_id"] = "u1"  # what a request without the adapter's refusal would carry
    answer = httpx.post(f"{sink.url}/2/httpapi", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["events_with_invalid_id_lengths"] == {"user_id": [1]}
    assert handler.accepted == []
    outcomes = PROVIDER.classify(request, ProviderResponse(answer.status_code, {}, answer.content))
    assert {p: o.verdict for p, o in outcomes.items()} == {0: Verdict.RETRY, 1: Verdict.PERMANENT}


def test_a_silenced_device_fails_alone_and_the_rest_is_ingested_on_its_resend_at_once(
    amplitude: tuple[Sink, AmplitudeSink], sender: HttpSender
) -> None:
    _, handler = amplitude
    silenced = make_item(
        PROVIDER, make_event(event_id="s1"), overrides=[{"type": "static", "to": "device_id", "value": SILENCED}]
    )
    good = items(1)
    outcomes = deliver(sender, PROVIDER, [silenced, good[0]], CREDENTIALS)
    assert {p: (o.verdict, o.error_class) for p, o in outcomes.items()} == {
        0: (Verdict.PERMANENT, "amplitude_invalid_event"),
        1: (Verdict.DELIVERED, None),
    }
    assert "silenced" in (outcomes[0].message or "")
    assert [event["insert_id"] for event in handler.accepted] == ["e0"]
