"""Endpoints that answer to hurt: secrets echoed back, compression bombs, trickled answers and answers that never
end, cookies, names whose DNS never answers or whose first address is down, unreachable token endpoints, and
requests the HTTP client refuses to send. Real sockets on loopback, the real dispatcher and sender."""

from __future__ import annotations

import json
import socket
import threading
import tracemalloc
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, cast

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.delivery.answer_body import MAX_BODY_PIECES, MAX_RESPONSE_BYTES
from nimriz_destinations.delivery.dispatcher import SENDING_THREADS
from nimriz_destinations.delivery.group_sender import EXCERPT_CHARACTERS, GroupSender
from nimriz_destinations.delivery.guarded_transport import ADDRESSES_TRIED, MAX_ANSWER_WIRE_BYTES
from nimriz_destinations.delivery.sender import HttpSender, SendFailed
from nimriz_destinations.providers.base import Built, DeliveryItem, OutboundRequest, Verdict
from nimriz_destinations.providers.generic_http import GenericHttp
from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.e2e.providers import GOOGLE_ADS
from tests.integration.test_delivery_pipeline import click, deliveries
from tests.local.pollers import poll_once
from tests.pipeline import Pipeline
from tests.provider_support import make_item
from tests.sinks.raw_endpoint import (
    RawEndpoint,
    double_gzip_bomb,
    endless,
    gzip_of_zeros,
    response_head,
    trickle,
    whole,
)
from tests.sinks.server import Sink, SinkRequest, SinkResponse

BASE = "/api/integrations/destinations"
MIB = 1 << 20
# Quotes, a backslash and non-ASCII: what JSON escapes (both ways) and what URL-encoding changes.
HEADER_SECRET = 'hdr-"quoted"-back\\slash-0123456789abcdef'
POSTHOG_KEY = 'phc_"quote"\\back-é-ü-中-0123456789'


def leaked_windows(text: str, secret: str) -> set[str]:
    return {secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text}


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def webhook(api: ApiClient, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    credentials = {"url": url, "headers": headers or {}, "signing_secret": "whsec_hostile_endpoints_0123456789"}
    actions = [{"name": "All events", "action_type": "send_webhook"}]
    return create(api, {"name": "Webhook", "type": "generic_http", "credentials": credentials, "actions": actions})


def delivery_detail(api: ApiClient, destination_id: str) -> dict[str, Any]:
    (summary,) = deliveries(api, destination_id)
    detail: dict[str, Any] = api.get(f"{BASE}/{destination_id}/deliveries/{summary['id']}").json()["delivery"]
    return detail


# -- secrets echoed back ---------------------------------------------------------------------------------------


def test_a_secret_header_echoed_across_the_excerpt_cut_leaves_nothing_in_the_delivery_log(
    api: ApiClient, pipeline: Pipeline
) -> None:
    def echo_across_the_cut(request: SinkRequest) -> SinkResponse:
        # The secret starts 12 characters before the 1 KB cut: cutting first left those 12 in the excerpt.
        echoed = request.header("x-api-key") or ""
        return SinkResponse(400, "~" * (EXCERPT_CHARACTERS - 12) + echoed + "~" * 100)

    with Sink(echo_across_the_cut) as sink:
        destination = webhook(api, f"{sink.url}/hook", {"X-Api-Key": HEADER_SECRET})
        pipeline.publish(click())
        pipeline.run()
        assert sink.requests[0].header("x-api-key") == HEADER_SECRET  # the endpoint did echo the secret

    detail = delivery_detail(api, destination["id"])
    (attempt,) = detail["attempt_log"]
    (letter,) = api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"]
    for excerpt in (attempt["response_excerpt"], letter["response_excerpt"]):
        assert excerpt.startswith("~" * (EXCERPT_CHARACTERS - 12)) and len(excerpt) <= EXCERPT_CHARACTERS
        assert not leaked_windows(excerpt, HEADER_SECRET), excerpt[-40:]


@pytest.mark.parametrize("saved", [True, False], ids=["saved", "unsaved"])
def test_posthog_preview_shows_no_part_of_an_api_key_with_quotes_backslashes_and_non_ascii(
    api: ApiClient, saved: bool
) -> None:
    body = {
        "name": "PostHog",
        "type": "posthog",
        "credentials": {"api_key": POSTHOG_KEY},
        "actions": [{"name": "Events", "action_type": "send_event"}],
    }
    if saved:
        response = api.post(f"{BASE}/{create(api, body)['id']}/preview", {})
    else:
        response = api.post(f"{BASE}/preview", {"destination": body})
    assert response.status == 200, response.text
    (action,) = response.json()["actions"]
    (request,) = action["requests"]
    assert request["body"]["api_key"] == "[redacted]"
    for text in (response.text, json.dumps(response.json(), ensure_ascii=False)):
        assert not leaked_windows(text, POSTHOG_KEY)
        assert not leaked_windows(text, json.dumps(POSTHOG_KEY)[1:-1])


# -- bounded responses -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "coding", "bomb"),
    [
        (400, "gzip, gzip", lambda: double_gzip_bomb(512)),  # ~1 KB that decodes to 512 MiB through both layers
        (200, "gzip", lambda: gzip_of_zeros(1024)),  # ~1 MB that decodes to 1 GiB
    ],
    ids=["two-layers", "one-layer-1GiB"],
)
def test_a_compression_bomb_is_recorded_with_its_status_without_growing_the_dispatcher_memory(
    api: ApiClient, pipeline: Pipeline, status: int, coding: str, bomb: Any
) -> None:
    body = bomb()
    with RawEndpoint(whole(200, {}, b"ok")) as endpoint:
        destination = webhook(api, f"{endpoint.url}/hook")
        pipeline.publish(click())
        pipeline.run()  # first delivery warms every client and cache up, so only the bomb is measured
        endpoint.answer = whole(status, {"Content-Encoding": coding, "Content-Type": "text/plain"}, body)
        event = click()
        tracemalloc.start()
        try:
            pipeline.publish(event)
            pipeline.run()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert endpoint.requests == 2

    assert peak < 50 * MIB, f"peak traced memory grew by {peak / MIB:.0f} MiB"
    (bombed,) = [d for d in deliveries(api, destination["id"]) if d["event_id"] == event["id"]]
    assert bombed["last_http_status"] == status and bombed["attempts"] == 1


@pytest.mark.parametrize("in_head", [True, False], ids=["trickled-status-line", "trickled-body"])
def test_an_endpoint_trickling_one_byte_a_second_is_cut_at_the_request_deadline(in_head: bool) -> None:
    # Each byte arrives well within the 10 s read timeout: only the total deadline can end the request. If it
    # did not, the endpoint would stop after 40 bytes and the request would end another way.
    sender = HttpSender(allow_loopback=True, deadline_seconds=2.5)
    with RawEndpoint(trickle(200, interval=1.0, max_bytes=40, in_head=in_head)) as endpoint:
        request = OutboundRequest("POST", f"{endpoint.url}/hook", {}, b"{}", (0,))
        with pytest.raises(SendFailed) as failed:
            sender.send("generic_http", request)
    sender.close()
    assert failed.value.outcome.verdict is Verdict.RETRY and failed.value.outcome.error_class == "timeout"


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "piece"),
    [
        (b"", b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"),
        (CHUNKED_HEAD, b"1;" + b"e" * 1_000 + b"\r\nx\r\n"),  # each byte of body behind a 1 KB chunk extension
    ],
    ids=["endless-informational-answers", "chunk-extensions"],
)
def test_an_answer_that_never_ends_in_valid_http_is_cut_at_the_wire_budget_not_the_deadline(
    head: bytes, piece: bytes
) -> None:
    """Each part parses, so no parser limit ends it and the 64 KB body cap never sees a byte of it: only the
    bytes read for the answer bound what parsing it costs a dispatcher thread (before the bound, the whole
    deadline's worth: this endpoint's 5 s)."""
    sender = HttpSender(allow_loopback=True, deadline_seconds=5)
    with RawEndpoint(endless(head, piece)) as endpoint:
        request = OutboundRequest("POST", f"{endpoint.url}/hook", {}, b"{}", (0,))
        with pytest.raises(SendFailed) as failed:
            sender.send("generic_http", request)
    sender.close()
    outcome = failed.value.outcome
    assert outcome.verdict is Verdict.RETRY and outcome.error_class == "network_error"
    assert outcome.message == f"the answer went on past {MAX_ANSWER_WIRE_BYTES // 1024} KB before its body ended"


def test_a_body_sent_a_byte_per_chunk_is_kept_up_to_the_piece_cap() -> None:
    sender = HttpSender(allow_loopback=True, deadline_seconds=5)
    with RawEndpoint(endless(CHUNKED_HEAD, b"1\r\nx\r\n" * 1_000)) as endpoint:
        response = sender.send("generic_http", OutboundRequest("POST", f"{endpoint.url}/hook", {}, b"{}", (0,)))
    sender.close()
    assert response.status == 200 and response.truncated
    assert response.body == b"x" * MAX_BODY_PIECES


def test_a_large_answer_with_a_large_head_is_still_read_to_the_body_cap() -> None:
    """The wire budget leaves room for what real servers send: a head near h11's 100 KB limit and a body of many
    megabytes are read as before, the body kept to its cap."""
    headers = {f"X-Padding-{number}": "p" * 1_000 for number in range(90)}
    body = b"b" * (4 * MIB)
    sender = HttpSender(allow_loopback=True)
    with RawEndpoint(whole(200, headers, body)) as endpoint:
        response = sender.send("generic_http", OutboundRequest("POST", f"{endpoint.url}/hook", {}, b"{}", (0,)))
    sender.close()
    assert response.status == 200 and response.truncated
    assert response.body == body[:MAX_RESPONSE_BYTES]
    assert len(response_head(200, headers)) > 90_000


# -- send-path errors --------------------------------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connections are refused


def test_a_host_whose_first_address_refuses_is_reached_through_its_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """One node of a load-balanced endpoint down: the next address answers, as it would for any HTTP client."""
    refusing_port = int(closed_port_url().rsplit(":", 1)[1])
    resolve = socket.getaddrinfo

    with Sink(lambda _: SinkResponse(200)) as sink:
        port = int(sink.url.rsplit(":", 1)[1])

        def nodes(host: Any, *args: Any, **kwargs: Any) -> Any:
            # 127.0.0.2 and up are loopback too, where nothing listens on the sink's port: they refuse connections.
            down = {"two-nodes.localhost": 1, "many-nodes.localhost": ADDRESSES_TRIED}.get(host)
            if down is None:
                return resolve(host, *args, **kwargs)
            addresses = [f"127.0.0.{2 + number}" for number in range(down)] + ["127.0.0.1"]
            return [info for address in addresses for info in resolve(address, *args, **kwargs)]

        monkeypatch.setattr(socket, "getaddrinfo", nodes)
        sender = HttpSender(allow_loopback=True)
        request = OutboundRequest("POST", f"http://two-nodes.localhost:{port}/hook", {}, b"{}", (0,))
        assert sender.send("generic_http", request).status == 200
        with pytest.raises(SendFailed) as failed:  # no node answering: still a retried network error
            sender.send("generic_http", replace(request, url=f"http://two-nodes.localhost:{refusing_port}/hook"))
        with pytest.raises(SendFailed):  # the one answering comes after the addresses a request tries
            sender.send("generic_http", replace(request, url=f"http://many-nodes.localhost:{port}/hook"))
        sender.close()
    assert len(sink.requests) == 1
    assert failed.value.outcome.verdict is Verdict.RETRY and failed.value.outcome.error_class == "network_error"


def test_names_whose_dns_never_answers_do_not_hold_the_lookup_of_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant answers for its own domain's DNS: its names may take the resolver's whole timeout. While as many of
    them as a workspace may send to at once are being looked up, another workspace's name still resolves at once
    (the lookups once shared 8 threads, so a ninth name waited for one of the eight to give up)."""
    resolve = socket.getaddrinfo
    slow_names = [f"slow-{number}.tenant.localhost" for number in range(SENDING_THREADS)]
    started, released = threading.Semaphore(0), threading.Event()

    def tenant_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in slow_names:
            started.release()
            released.wait(timeout=30)
            host = "127.0.0.1"
        elif host == "other.localhost":
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", tenant_dns)
    sender = HttpSender(allow_loopback=True, deadline_seconds=3)
    with Sink(lambda _: SinkResponse(200)) as sink, ThreadPoolExecutor(len(slow_names)) as senders:
        port = int(sink.url.rsplit(":", 1)[1])
        waiting = [
            senders.submit(
                sender.send, "generic_http", OutboundRequest("POST", f"http://{name}:{port}/", {}, b"", (0,))
            )
            for name in slow_names
        ]
        for _ in slow_names:
            assert started.acquire(timeout=10), "every slow lookup is under way"
        try:
            other = OutboundRequest("POST", f"http://other.localhost:{port}/hook", {}, b"{}", (0,))
            assert sender.send("generic_http", other).status == 200
        finally:
            released.set()
        for slow in waiting:
            slow.exception()  # released, they end one way or the other
    sender.close()


def test_google_ads_token_endpoint_refusing_connections_is_a_retried_network_error(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"google_ads": closed_port_url()}))
    runtime.reset()
    destination = create(
        api,
        {
            "name": "Google Ads",
            "type": "google_ads",
            # A refresh token of its own: no access token cached by an earlier test may skip the token request.
            "credentials": {**GOOGLE_ADS, "refresh_token": f"1//refused-{uuid.uuid4()}"},
            "actions": [{"name": "Sales", "action_type": "send_conversion"}],
        },
    )
    pipeline.publish(sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev"))
    assert poll_once(pipeline.sources["FanOutFunction"], wait_seconds=0) == 1
    assert poll_once(pipeline.sources["DispatcherFunction"], wait_seconds=0) == 1  # one attempt, then look

    detail = delivery_detail(api, destination["id"])
    assert detail["status"] == "retrying" and detail["last_error_class"] == "network_error"
    (attempt,) = detail["attempt_log"]
    assert attempt["outcome"] == "retry" and attempt["next_attempt_at"]
    assert "access token" in attempt["message"]


@pytest.mark.parametrize(
    "headers",
    [{"X-Api-Key": "café"}, {"X-Api-Key": "a\r\nX-Injected: 1"}, {"X Api Key": "value"}],
    ids=["non-ascii-value", "crlf-in-value", "space-in-name"],
)
def test_a_header_the_client_cannot_send_is_a_permanent_invalid_request(headers: dict[str, str]) -> None:
    sender = HttpSender(allow_loopback=True)
    with Sink(lambda _: SinkResponse(200)) as sink:
        request = OutboundRequest("POST", f"{sink.url}/hook", headers, b"{}", (0,), tuple(headers.values()))
        with pytest.raises(SendFailed) as failed:
            sender.send("generic_http", request)
        assert sink.requests == []
    sender.close()
    outcome = failed.value.outcome
    assert outcome.verdict is Verdict.PERMANENT and outcome.error_class == "invalid_request"
    assert not any(value in (outcome.message or "") for value in headers.values())


def test_cookies_an_endpoint_sets_are_never_sent_with_a_later_request() -> None:
    """The dispatcher sends every tenant's deliveries through one sender: a cookie kept from one answer would go
    with the next request to that host, whoever's delivery it carries, and new cookies on every answer would grow
    each request and the sender's memory."""
    answers = iter(range(1_000))

    def set_a_new_cookie(_: SinkRequest) -> SinkResponse:
        return SinkResponse(200, headers={"Set-Cookie": f"session{next(answers)}={'x' * 2_000}; Path=/"})

    sender = HttpSender(allow_loopback=True)
    with Sink(set_a_new_cookie) as sink:
        for _ in range(5):
            request = OutboundRequest("POST", f"{sink.url}/hook", {"Content-Type": "application/json"}, b"{}", (0,))
            assert sender.send("generic_http", request).headers["set-cookie"].startswith("session")
    sender.close()
    assert [request.header("cookie") for request in sink.requests] == [None] * 5


def test_a_request_offers_only_the_content_codings_the_sender_undoes() -> None:
    sender = HttpSender(allow_loopback=True)
    with Sink(lambda _: SinkResponse(200)) as sink:
        sender.send("generic_http", OutboundRequest("POST", f"{sink.url}/hook", {}, b"{}", (0,)))
    sender.close()
    (request,) = sink.requests
    assert request.header("accept-encoding") == "gzip, deflate"
    assert request.header("user-agent") == "Nimriz-Destinations/1.0"


def test_a_refused_connection_is_a_retried_network_error() -> None:
    sender = HttpSender(allow_loopback=True)
    with pytest.raises(SendFailed) as failed:
        sender.send("generic_http", OutboundRequest("POST", f"{closed_port_url()}/hook", {}, b"{}", (0,)))
    sender.close()
    assert failed.value.outcome.verdict is Verdict.RETRY and failed.value.outcome.error_class == "network_error"


class ExtraHeader(GenericHttp):
    """Adds one header to its requests, as given: an adapter bug when it is not text."""

    def __init__(self, value: object) -> None:
        self.value = value

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        built = super().build_requests(items, credentials, now=now)
        headers = cast(Mapping[str, str], {"X-Extra": self.value})
        return Built([replace(request, headers={**request.headers, **headers}) for request in built.requests], {})


@pytest.mark.parametrize("value", ["café", 5], ids=["non-ascii-header", "header-that-is-not-text"])
def test_a_request_the_client_cannot_build_or_send_is_not_an_attempt(value: object) -> None:
    provider = ExtraHeader(value)
    sender = HttpSender(allow_loopback=True)
    with Sink(lambda _: SinkResponse(200)) as sink:
        credentials = {"url": f"{sink.url}/hook", "signing_secret": "whsec_not_an_attempt_0123456789"}
        item = make_item(provider, sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1"))
        (result,) = GroupSender(sender).send(provider, credentials, [item]).values()
        assert sink.requests == []
    sender.close()
    assert result.sent is False and result.outcome.error_class in ("invalid_request", "internal_error")
