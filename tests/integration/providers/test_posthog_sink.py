"""PostHog adapter → HttpSender → a PostHog sink as the customer's host, over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.posthog import PROVIDER
from tests.provider_support import deliver, make_event, make_item
from tests.sinks.posthog import PostHogSink, posthog_sink
from tests.sinks.server import Sink, SinkResponse

API_KEY = "phc_integration_key_77"


@pytest.fixture
def posthog() -> Iterator[tuple[Sink, PostHogSink]]:
    handler = posthog_sink(API_KEY)
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender() -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True)  # the host is the customer's own (self-hosted): no egress override
    yield http
    http.close()


def credentials(sink: Sink, **changes: Any) -> dict[str, Any]:
    return {"api_key": API_KEY, "host": sink.url} | changes


def test_a_single_event_is_ingested(posthog: tuple[Sink, PostHogSink], sender: HttpSender) -> None:
    sink, handler = posthog
    item = make_item(PROVIDER, make_event("card.viewed"))
    outcomes = deliver(sender, PROVIDER, [item], credentials(sink))
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert handler.dropped == []
    (event,) = handler.accepted
    assert (event["event"], event["uuid"], event["distinct_id"]) == (
        "Card Viewed",
        item.event["id"],
        "vh_3f9a1c7e5b2d4086",
    )
    assert sink.requests[0].path == "/batch/"


def test_a_batch_is_one_request_and_a_resent_uuid_is_ingested_once(
    posthog: tuple[Sink, PostHogSink], sender: HttpSender
) -> None:
    sink, handler = posthog
    batch = [make_item(PROVIDER, make_event(event_id=f"evt_{i}")) for i in range(4)]
    deliver(sender, PROVIDER, batch, credentials(sink))
    outcomes = deliver(sender, PROVIDER, batch, credentials(sink))
    assert {o.verdict for o in outcomes.values()} == {Verdict.DELIVERED}
    assert len(sink.requests) == 2 and len(handler.accepted) == 4 and handler.dropped == []


def test_an_old_replay_takes_the_historical_path_and_live_events_do_not(
    posthog: tuple[Sink, PostHogSink], sender: HttpSender
) -> None:
    sink, handler = posthog
    replay = make_item(PROVIDER, make_event(event_id="replayed", age_seconds=3 * 24 * 3600), reason="replay")
    live = make_item(PROVIDER, make_event(event_id="live"))
    outcomes = deliver(sender, PROVIDER, [replay, live], credentials(sink))
    assert {outcome.verdict for outcome in outcomes.values()} == {Verdict.DELIVERED}
    assert [event["uuid"] for event in handler.historical] == [replay.payload["uuid"]]
    assert len(handler.accepted) == 2 and len(sink.requests) == 2


def test_a_historical_migration_flag_that_is_not_a_boolean_is_refused(posthog: tuple[Sink, PostHogSink]) -> None:
    sink, handler = posthog
    body = {"api_key": API_KEY, "historical_migration": "yes", "batch": [make_item(PROVIDER).payload]}
    response = httpx.post(f"{sink.url}/batch/", json=body)
    assert response.status_code == 400 and handler.accepted == []


def test_an_invalid_project_key_is_permanent(posthog: tuple[Sink, PostHogSink], sender: HttpSender) -> None:
    sink, _ = posthog
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink, api_key="phc_wrong"))
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "http_401")
    assert "invalid_api_key" in (outcomes[0].message or "")


def test_a_200_reporting_quota_limited_is_permanent(sender: HttpSender) -> None:
    handler = posthog_sink(API_KEY, quota_limited=True)
    with Sink(handler) as sink:
        outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink))
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "posthog_quota_limited")
    assert handler.accepted == []


def test_a_429_is_throttled_on_our_schedule(posthog: tuple[Sink, PostHogSink], sender: HttpSender) -> None:
    # PostHog documents no rate limit on its public capture endpoints and no wait, so the 429 carries none.
    sink, _ = posthog
    sink.script.append(SinkResponse(429, "rate limited"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink))
    assert (outcomes[0].verdict, outcomes[0].throttled, outcomes[0].retry_after) == (Verdict.RETRY, True, None)


def test_a_transient_capture_error_is_retried(posthog: tuple[Sink, PostHogSink], sender: HttpSender) -> None:
    sink, _ = posthog
    sink.script.append(SinkResponse(503, "transient error, please retry"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink))
    assert outcomes[0].verdict is Verdict.RETRY
