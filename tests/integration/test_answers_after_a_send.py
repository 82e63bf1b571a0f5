"""What happens once a request has gone out: an answer that cannot be understood is `invalid_response`, never
`internal_error`, and nothing after a 2xx (an adapter bug, another request of the group failing, resending
batch-mates, bookkeeping) sends that request's items again. Real sockets on loopback."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import pytest

from nimriz_destinations.delivery.circuit import CircuitBreakers
from nimriz_destinations.delivery.group_sender import GroupSender
from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers.base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, Verdict
from nimriz_destinations.providers.generic_http import GenericHttp
from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.integration.test_delivery_pipeline import click, deliveries
from tests.pipeline import Pipeline
from tests.provider_support import make_item
from tests.sinks.raw_endpoint import RawEndpoint, whole
from tests.sinks.server import Sink, SinkResponse

BASE = "/api/integrations/destinations"
SIGNING_SECRET = "whsec_answers_after_a_send_0123456789"
ECHOED_SECRET = "echoed-secret-0123456789abcdef"
HOSTILE_ANSWER = b"[" * 60_000  # nested past the parser's stack: RecursionError in json.loads


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def dead_letters(api: ApiClient, destination_id: str) -> list[dict[str, Any]]:
    letters: list[dict[str, Any]] = api.get(f"{BASE}/{destination_id}/dead-letters").json()["dead_letters"]
    return letters


# -- the dispatcher, end to end ----------------------------------------------------------------------------------


def test_a_self_hosted_posthog_answering_200_with_60_kb_of_brackets_is_sent_once_and_recorded_invalid_response(
    api: ApiClient, pipeline: Pipeline
) -> None:
    with RawEndpoint(whole(200, {"Content-Type": "application/json"}, HOSTILE_ANSWER)) as endpoint:
        destination = create(
            api,
            {
                "name": "Self-hosted PostHog",
                "type": "posthog",
                "credentials": {"api_key": "phc_self_hosted_0123456789", "host": endpoint.url},
                "actions": [{"name": "Events", "action_type": "send_event"}],
            },
        )
        pipeline.publish(click())
        pipeline.run()
        assert endpoint.requests == 1  # PostHog accepted the batch: it is never sent again

    (delivery,) = deliveries(api, destination["id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_http_status"]) == ("dead_lettered", 1, 200)
    assert delivery["last_error_class"] == "invalid_response"
    (letter,) = dead_letters(api, destination["id"])
    assert letter["error_class"] == "invalid_response" and "not sent again" in letter["message"]


def test_a_delivered_chunk_is_recorded_once_when_observing_the_circuit_fails_after_the_sends(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_observe(*_: object, **__: object) -> None:
        raise RuntimeError("circuit bookkeeping failed")

    monkeypatch.setattr(CircuitBreakers, "observe", broken_observe)
    pipeline.invocation_seconds["DispatcherFunction"] = 25  # a lease a lost record would hold: ~30 s, not minutes
    with Sink(lambda _: SinkResponse(200, {"received": True})) as sink:
        credentials = {"url": f"{sink.url}/hook", "signing_secret": SIGNING_SECRET}
        actions = [{"name": "All events", "action_type": "send_webhook"}]
        body = {"name": "Hook", "type": "generic_http", "credentials": credentials, "actions": actions}
        destination = create(api, body)
        pipeline.publish(click())
        pipeline.run()
        assert len(sink.requests) == 1

    (delivery,) = deliveries(api, destination["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)


# -- one group of items, through GroupSender -----------------------------------------------------------------------


class ClassifyRaises(GenericHttp):
    """An adapter bug: classifying any answer raises, with the answer's text (an echoed secret) in the exception."""

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        raise KeyError(f"unexpected answer {ECHOED_SECRET}")


class SecondRequestUnsendable(GenericHttp):
    """An adapter bug in the second request of the group: a header value the HTTP client refuses with TypeError."""

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        built = super().build_requests(items, credentials, now=now)
        first, second = built.requests
        return Built([first, replace(second, headers=cast(Mapping[str, str], {"X-Count": 5}))], built.skipped)


def send_group(provider: GenericHttp, sink: Sink, count: int) -> dict[int, SendResult]:
    events = [sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1") for _ in range(count)]
    items = [make_item(provider, event) for event in events]
    credentials = {"url": f"{sink.url}/hook", "signing_secret": SIGNING_SECRET}
    sender = HttpSender(allow_loopback=True)
    try:
        return GroupSender(sender).send(provider, credentials, items)
    finally:
        sender.close()


@pytest.mark.parametrize(
    ("status", "verdict"), [(200, Verdict.PERMANENT), (400, Verdict.PERMANENT), (503, Verdict.RETRY)]
)
def test_an_adapter_failing_on_an_answer_gives_invalid_response_by_the_status_code_and_logs_no_answer_text(
    status: int, verdict: Verdict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nimriz-destinations")
    with Sink(lambda _: SinkResponse(status, f"echo {ECHOED_SECRET}")) as sink:
        (result,) = send_group(ClassifyRaises(), sink, 1).values()
        assert len(sink.requests) == 1

    assert (result.outcome.verdict, result.outcome.error_class, result.http_status) == (
        verdict,
        "invalid_response",
        status,
    )
    (logged,) = [record for record in caplog.records if record.getMessage() == "classifying an answer failed"]
    assert logged.levelno == logging.ERROR and logged.__dict__["error_type"] == "KeyError"
    assert "in classify" in logged.__dict__["where"]
    for record in caplog.records:  # every field of every line, tracebacks included
        assert ECHOED_SECRET not in str(record.__dict__) + caplog.text


def test_a_request_answered_200_keeps_delivered_when_the_next_request_of_the_group_fails_before_its_answer() -> None:
    with Sink(lambda _: SinkResponse(200, {"received": True})) as sink:
        results = send_group(SecondRequestUnsendable(), sink, 2)
        assert len(sink.requests) == 1

    assert results[0].outcome.verdict is Verdict.DELIVERED
    assert (results[1].outcome.verdict, results[1].outcome.error_class) == (Verdict.RETRY, "internal_error")
