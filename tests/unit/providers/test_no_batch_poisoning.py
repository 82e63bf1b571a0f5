"""No batch poisoning in any batching adapter (design §8.1, "refused together"): when the provider refuses a whole
request for one event it does not name, in the way it documents, the dispatcher's group sender isolates that event
by resending the others at once, and only the bad event fails. Each case answers like the provider: its documented
whole-request refusal for any request carrying the bad event, its success otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from nimriz_destinations.delivery.group_sender import GroupSender
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers import DESTINATION_TYPES, get_provider
from nimriz_destinations.providers.base import OutboundRequest, ProviderResponse, Verdict
from tests.e2e.providers import PROVIDERS as SETUPS
from tests.provider_support import make_event, make_item, response

BAD_EVENT_ID = "0f8fad5b-d9cb-469f-a165-70867728bad0"
EVENT_IDS = ("0f8fad5b-d9cb-469f-a165-70867728a000", BAD_EVENT_ID, "0f8fad5b-d9cb-469f-a165-70867728a002")
Answer = Callable[[OutboundRequest], ProviderResponse]


def events_in(request: OutboundRequest) -> int:
    return len(request.items)


@dataclass(frozen=True)
class Case:
    event_type: str
    refusal: ProviderResponse  # the provider's whole-request refusal, naming no event
    success: Answer
    bad_error_class: str


GOOGLE_INVALID_ARGUMENT = {
    "error": {
        "code": 400,
        "message": "Request contains an invalid argument.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": [{"errorCode": {"fieldError": "INVALID_VALUE"}, "message": "The field's value is invalid."}],
            }
        ],
    }
}

CASES: dict[str, Case] = {
    # TikTok's envelope at HTTP 200 with ERROR_CODE_PARAM_ERROR (tiktok-business-api-sdk tiktok_code.py).
    "tiktok": Case(
        "conversion.lead",
        response(200, {"code": 40002, "message": "Invalid value for event_id", "request_id": "r", "data": {}}),
        lambda request: response(200, {"code": 0, "message": "OK", "request_id": "r", "data": {}}),
        "tiktok_40002",
    ),
    # Graph's error envelope, code 100 "Invalid parameter", naming no event.
    "meta": Case(
        "conversion.lead",
        response(
            400, {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "t"}}
        ),
        lambda request: response(200, {"events_received": events_in(request), "messages": [], "fbtrace_id": "t"}),
        "meta_error_100",
    ),
    # google.rpc.Status INVALID_ARGUMENT without a row's location.
    "google_ads": Case(
        "conversion.sale",
        response(400, GOOGLE_INVALID_ARGUMENT),
        lambda request: response(200, {"results": [{} for _ in request.items]}),
        "invalid_value",
    ),
    # LinkedIn's Rest.li 400 for the whole request.
    "linkedin": Case(
        "conversion.lead",
        response(400, {"status": 400, "code": "INVALID_REQUEST", "message": "Invalid request body"}),
        lambda request: response(201, b""),
        "linkedin_invalid_request",
    ),
    # "413 Payload Too Large" for a batch over the limit.
    "amplitude": Case(
        "link.clicked",
        response(413, {"code": 413, "error": "Payload too large"}),
        lambda request: response(200, {"code": 200, "events_ingested": events_in(request)}),
        "http_413",
    ),
    # /import 400 without failed_records.
    "mixpanel": Case(
        "link.clicked",
        response(400, {"code": 400, "error": "request body is not valid JSON", "status": "Bad Request"}),
        lambda request: response(200, {"code": 200, "num_records_imported": events_in(request), "status": "OK"}),
        "http_400",
    ),
    # "Segment returns a 200 response for all API requests except errors caused by large payloads and JSON errors".
    "segment": Case(
        "link.clicked",
        response(400, {"code": "invalid_request", "message": "payload too large"}),
        lambda request: response(200, {"success": True}),
        "http_400",
    ),
    # PostHog capture's 400 for an invalid payload.
    "posthog": Case(
        "link.clicked",
        response(400, {"type": "validation_error", "code": "invalid_payload", "detail": "Invalid payload"}),
        lambda request: response(200, {"status": "Ok"}),
        "http_400",
    ),
    # A server container's 400 (what claims /mp/collect is the customer's own client).
    "gtm_server_side": Case(
        "link.clicked",
        response(400, {"error": "bad request"}),
        lambda request: response(204, b""),
        "http_400",
    ),
}


class Answering(HttpSender):
    """Answers every request as `answer` says, without a socket; token requests with an access token."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(allow_loopback=True)
        self.answer = answer
        self.carried: list[int] = []  # events per request, in order

    def send(self, destination_type: str, request: OutboundRequest) -> ProviderResponse:
        if "token" in urlsplit(request.url).path.lower():  # an OAuth token endpoint
            return response(200, {"access_token": "access-token-0123", "expires_in": 3600, "token_type": "Bearer"})
        self.carried.append(len(request.items))
        return self.answer(request)


def test_every_batching_adapter_has_a_case() -> None:
    batching = {name for name in DESTINATION_TYPES if get_provider(name).max_batch_size > 1}
    assert batching - {"ga4"} == set(CASES)  # GA4's /mp/collect answers 2xx to anything: nothing to isolate


@pytest.mark.parametrize("destination_type", sorted(CASES))
def test_a_batch_refused_for_one_event_it_does_not_name_delivers_the_others(destination_type: str) -> None:
    provider, case = get_provider(destination_type), CASES[destination_type]
    items = [make_item(provider, make_event(case.event_type, event_id=event_id)) for event_id in EVENT_IDS]
    bad = items[1].event["id"].encode()

    def answer(request: OutboundRequest) -> ProviderResponse:
        return case.refusal if bad in request.body else case.success(request)

    sender = Answering(answer)
    try:
        results = GroupSender(sender).send(provider, _credentials(destination_type), items)
    finally:
        sender.close()

    assert {n: result.outcome.verdict for n, result in results.items()} == {
        0: Verdict.DELIVERED, 1: Verdict.PERMANENT, 2: Verdict.DELIVERED
    }  # fmt: skip
    assert results[1].outcome.error_class == case.bad_error_class
    assert sender.carried[0] == 3  # one request first, then parts
    assert sum(result.requests for result in results.values()) == sum(sender.carried)  # each request an attempt


def _credentials(destination_type: str) -> Mapping[str, Any]:
    credentials: dict[str, Any] = dict(SETUPS[destination_type].credentials)
    for field in ("host", "container_url", "url"):
        if field in credentials:
            credentials[field] = "https://collect.example.com"
    return json.loads(json.dumps(credentials))
