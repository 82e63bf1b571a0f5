"""GTM server-side adapter → HttpSender → a tagging-server sink at the customer's container URL, over sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.gtm_server_side import PROVIDER
from tests.provider_support import deliver, make_event, make_item
from tests.sinks.gtm_server_side import GTMContainerSink, gtm_container_sink
from tests.sinks.server import Sink, SinkResponse

MEASUREMENT_ID = "G-SGTM12345"
API_SECRET = "gtm-s3cret"


@pytest.fixture
def container() -> Iterator[tuple[Sink, GTMContainerSink]]:
    handler = gtm_container_sink(MEASUREMENT_ID, API_SECRET, path_prefix="/tagging")
    with Sink(handler) as sink:
        yield sink, handler


@pytest.fixture
def sender() -> Iterator[HttpSender]:
    http = HttpSender(allow_loopback=True)  # the container URL is the customer's own: no egress override
    yield http
    http.close()


def credentials(sink: Sink, **changes: Any) -> dict[str, Any]:
    base = {"container_url": f"{sink.url}/tagging", "measurement_id": MEASUREMENT_ID, "api_secret": API_SECRET}
    return base | changes


def test_a_click_reaches_the_container_client(container: tuple[Sink, GTMContainerSink], sender: HttpSender) -> None:
    sink, handler = container
    item = make_item(PROVIDER, make_event("link.qr_scanned"))
    outcomes = deliver(sender, PROVIDER, [item], credentials(sink))
    assert outcomes[0].verdict is Verdict.DELIVERED
    assert [(event["name"], event["client_id"]) for event in handler.accepted] == [
        ("qr_scan", item.payload["client_id"])
    ]
    assert sink.requests[0].path == "/tagging/mp/collect"


def test_a_batch_of_one_visitor_is_one_hit(container: tuple[Sink, GTMContainerSink], sender: HttpSender) -> None:
    sink, handler = container
    items = [make_item(PROVIDER, make_event(visitor="a", event_id=f"e{i}")) for i in range(3)]
    outcomes = deliver(sender, PROVIDER, items, credentials(sink))
    assert {o.verdict for o in outcomes.values()} == {Verdict.DELIVERED}
    assert len(sink.requests) == 1 and len(handler.accepted) == 3


def test_a_wrong_api_secret_is_permanent(container: tuple[Sink, GTMContainerSink], sender: HttpSender) -> None:
    sink, handler = container
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink, api_secret="wrong"))
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "http_403")
    assert handler.accepted == []


def test_an_unclaimed_request_is_permanent(container: tuple[Sink, GTMContainerSink], sender: HttpSender) -> None:
    sink, _ = container
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink, container_url=sink.url))
    assert (outcomes[0].verdict, outcomes[0].error_class) == (Verdict.PERMANENT, "http_400")


def test_a_429_is_throttled_on_our_schedule(container: tuple[Sink, GTMContainerSink], sender: HttpSender) -> None:
    # A server container is the customer's own: Google documents no rate limit or wait for it (research note §4.4).
    sink, _ = container
    sink.script.append(SinkResponse(429, "slow down"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink))
    assert (outcomes[0].verdict, outcomes[0].throttled, outcomes[0].retry_after) == (Verdict.RETRY, True, None)


def test_a_container_outage_is_retried(container: tuple[Sink, GTMContainerSink], sender: HttpSender) -> None:
    sink, _ = container
    sink.script.append(SinkResponse(502, "Bad Gateway"))
    outcomes = deliver(sender, PROVIDER, [make_item(PROVIDER)], credentials(sink))
    assert outcomes[0].verdict is Verdict.RETRY


def test_an_event_past_ga4s_limits_is_cut_and_claimed_not_refused(
    container: tuple[Sink, GTMContainerSink], sender: HttpSender
) -> None:
    sink, handler = container
    extra = [{"type": "static", "to": f"params.extra_{n}", "value": "x" * 120} for n in range(30)]
    event = make_event("link.clicked") | {"consent": {"ad_user_data": "denied"}}
    outcome = deliver(sender, PROVIDER, [make_item(PROVIDER, event, overrides=extra)], credentials(sink))[0]
    assert outcome.verdict is Verdict.DELIVERED and "truncated to GA4's limits" in (outcome.message or "")
    (accepted,) = handler.accepted
    assert len(accepted["params"]) == 25 and accepted["params"]["engagement_time_msec"] == 1
    assert sink.requests[0].json()["consent"] == {"ad_user_data": "DENIED"}
