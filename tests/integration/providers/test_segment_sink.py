"""Segment adapter → HttpSender → a Segment-like sink over real loopback sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import DeliveryItem, Outcome, Verdict
from nimriz_destinations.providers.segment import MAX_BATCH_BYTES, PROVIDER
from nimriz_destinations.sample_events import sample_event
from tests import provider_support
from tests.sinks.segment import SegmentSink, rate_limited, segment_sink
from tests.sinks.server import Sink, SinkRequest, SinkResponse

WRITE_KEY = "seg_SeCrEt_write_key_f3a1"
CREDENTIALS = {"write_key": WRITE_KEY, "region": "us"}
DEFAULT_MAPPING = compile_mapping(PropertyMapping())


@pytest.fixture
def segment() -> Iterator[tuple[Sink, SegmentSink]]:
    handler = segment_sink(WRITE_KEY)
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender(segment: tuple[Sink, SegmentSink]) -> Iterator[HttpSender]:
    sink, _ = segment
    http = HttpSender(allow_loopback=True, egress_overrides={"segment": sink.url})
    yield http
    http.close()


def make_items(count: int, event_type: str = "link.clicked") -> list[DeliveryItem]:
    items = []
    for index in range(count):
        event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id=f"evt_{index}")
        items.append(
            DeliveryItem(f"dlv_{index}", event, DEFAULT_MAPPING.apply(event, PROVIDER.default_payload), "live", 1)
        )
    return items


def deliver(
    sender: HttpSender, items: list[DeliveryItem], credentials: dict[str, Any] = CREDENTIALS
) -> dict[int, Outcome]:
    return provider_support.deliver(sender, PROVIDER, items, credentials)


def test_single_event_is_accepted_as_a_track_call(segment: tuple[Sink, SegmentSink], sender: HttpSender) -> None:
    sink, handler = segment
    outcomes = deliver(sender, make_items(1, "link.qr_scanned"))
    assert outcomes[0].verdict is Verdict.DELIVERED
    (request,) = sink.requests
    assert request.path == "/v1/track"
    (message,) = handler.accepted
    assert (message["event"], message["messageId"]) == ("QR Scanned", "evt_0")
    assert handler.dropped == []


def test_several_events_are_accepted_in_one_batch(segment: tuple[Sink, SegmentSink], sender: HttpSender) -> None:
    sink, handler = segment
    outcomes = deliver(sender, make_items(5, "conversion.sale"))
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert [request.path for request in sink.requests] == ["/v1/batch"]
    assert [message["messageId"] for message in handler.accepted] == [f"evt_{index}" for index in range(5)]
    assert {message["event"] for message in handler.accepted} == {"Spring order"}
    assert handler.dropped == []


def test_large_events_are_split_into_batches_segment_accepts(
    segment: tuple[Sink, SegmentSink], sender: HttpSender
) -> None:
    sink, handler = segment
    items = make_items(40)
    for item in items:
        item.payload["properties"]["notes"] = "n" * 30_000
    outcomes = deliver(sender, items)
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert len(sink.requests) > 1
    assert all(len(request.body) <= MAX_BATCH_BYTES for request in sink.requests)
    assert len(handler.accepted) == 40


def test_wrong_write_key_is_a_permanent_failure(segment: tuple[Sink, SegmentSink], sender: HttpSender) -> None:
    sink, handler = segment
    outcomes = deliver(sender, make_items(2), {"write_key": "seg_wrong_key_0000", "region": "us"})
    assert {(o.verdict, o.error_class) for o in outcomes.values()} == {(Verdict.PERMANENT, "http_401")}
    assert outcomes[0].message == "Segment answered 401: invalid or missing write key (unauthorized)"
    assert [request.path for request in sink.requests] == ["/v1/batch"]
    assert handler.accepted == []


def test_rate_limit_is_retried_after_the_advertised_delay(
    segment: tuple[Sink, SegmentSink], sender: HttpSender
) -> None:
    sink, handler = segment
    sink.script.append(rate_limited(5))
    items = make_items(1)
    first = deliver(sender, items)[0]
    assert (first.verdict, first.error_class, first.retry_after, first.throttled) == (
        Verdict.RETRY,
        "http_429",
        5.0,
        True,
    )
    assert deliver(sender, items)[0].verdict is Verdict.DELIVERED
    assert [message["messageId"] for message in handler.accepted] == ["evt_0"]


def test_server_error_is_retried(segment: tuple[Sink, SegmentSink], sender: HttpSender) -> None:
    sink, handler = segment
    sink.script.append(SinkResponse(500, "Internal Server Error"))
    outcomes = deliver(sender, make_items(3))
    assert {(o.verdict, o.error_class) for o in outcomes.values()} == {(Verdict.RETRY, "http_500")}
    assert handler.accepted == []


def test_eu_region_reaches_the_same_paths_through_the_egress_override(
    segment: tuple[Sink, SegmentSink], sender: HttpSender
) -> None:
    sink, handler = segment
    outcomes = deliver(sender, make_items(1), {"write_key": WRITE_KEY, "region": "eu"})
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert sink.requests[0].path == "/v1/track"
    assert len(handler.accepted) == 1


# -- the sink itself refuses what Segment refuses (so the tests above can fail) -------------------------------


def sink_request(path: str, body: bytes, authorization: str | None = None) -> SinkRequest:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return SinkRequest("POST", path, {}, headers, body)


def built_request(items: list[DeliveryItem]) -> SinkRequest:
    (request,) = PROVIDER.build_requests(items, CREDENTIALS, now=time.time()).requests
    path = request.url.removeprefix("https://api.segment.io")
    return sink_request(path, request.body, request.headers["Authorization"])


def test_sink_answers_400_for_an_event_over_32kb() -> None:
    handler = segment_sink(WRITE_KEY)
    (item,) = make_items(1)
    request = built_request([item])
    message = json.loads(request.body) | {"notes": "n" * 33_000}
    answer = handler(sink_request("/v1/track", json.dumps(message).encode(), request.header("authorization")))
    assert (answer.status, answer.body["message"]) == (400, "Exceed payload limit")


def test_sink_answers_400_for_a_batch_over_500kb() -> None:
    handler = segment_sink(WRITE_KEY)
    request = built_request(make_items(2))
    batch = json.loads(request.body)["batch"]
    oversized = {"batch": [message | {"notes": "n" * 30_000} for message in batch * 9]}
    answer = handler(sink_request("/v1/batch", json.dumps(oversized).encode(), request.header("authorization")))
    assert answer.status == 400


def test_sink_drops_messages_segment_would_drop_but_still_answers_200() -> None:
    handler = segment_sink(WRITE_KEY)
    request = built_request(make_items(3))
    batch = json.loads(request.body)["batch"]
    del batch[0]["anonymousId"], batch[1]["event"]
    answer = handler(sink_request("/v1/batch", json.dumps({"batch": batch}).encode(), request.header("authorization")))
    assert answer.status == 200
    assert [dropped.reason for dropped in handler.dropped] == ["no_user_anon_id", "track event is missing name"]
    assert len(handler.accepted) == 1


@pytest.mark.parametrize(
    ("path", "authorization", "status"),
    [("/v1/identify", None, 404), ("/v1/track", None, 401), ("/v1/track", "Basic bm9wZTo=", 401)],
)
def test_sink_refuses_unknown_paths_and_missing_or_wrong_keys(
    path: str, authorization: str | None, status: int
) -> None:
    handler = segment_sink(WRITE_KEY)
    assert handler(sink_request(path, b'{"event":"x","anonymousId":"a"}', authorization)).status == status
