"""Every registered adapter against answers meant to hurt: JSON nested past any parser's stack, invalid UTF-8, numbers
no float or int should hold, NaN, and wrong types at every level an adapter reads. Classification never raises,
every item gets a named outcome, and a 2xx answer is never retried because its body could not be understood."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from nimriz_destinations.delivery.group_sender import EXCERPT_CHARACTERS
from nimriz_destinations.providers import DESTINATION_TYPES, get_provider
from nimriz_destinations.providers.base import (
    AuthorizationFailed,
    OutboundRequest,
    Outcome,
    ProviderResponse,
    Verdict,
)
from tests.e2e.providers import PROVIDERS
from tests.provider_support import make_event, make_item

CREDENTIALS: dict[str, dict[str, Any]] = {
    **{name: setup.credentials for name, setup in PROVIDERS.items()},
    "generic_http": {"url": "https://hooks.example.com/nimriz", "signing_secret": "whsec_hostile_answers_0123456789"},
}
STATUSES = (200, 400, 429, 500)

# (label, destination type, delivery reason): GA4's test sends go to its validation server, which answers in its body.
REQUESTS = [(name, name, "live") for name in DESTINATION_TYPES if get_provider(name).delivers] + [
    ("ga4-validation", "ga4", "test")
]
# Requests whose 2xx answer says what happened to the events: an answer there that cannot be read is
# `invalid_response`. Every other adapter's 2xx means delivered, whatever the body.
READS_2XX_ANSWERS = frozenset({"posthog", "google_ads", "linkedin", "tiktok", "ga4-validation", "meta"})

UNREADABLE = {
    "60 KB of [": b"[" * 60_000,
    '60 KB of {"a":': b'{"a":' * 12_000,
    "invalid UTF-8": b'{"code": 0, "message": "\xff\xfe", "events_received": 2}',
    "a 10,000-digit number": b'{"code": ' + b"9" * 10_000 + b', "events_received": 2}',
    "1e999": b'{"code": 0, "events_received": 1e999, "quota_limited": []}',
    "NaN": b'{"code": NaN, "events_received": 2, "elements": []}',
    "cut JSON": b'{"code": 0, "message": "OK", "elements": [{"status": 201}',
}

# Every field some adapter reads, in the shape its provider documents; each is then replaced by wrong types.
_ROW_ERRORS = [
    {
        "errorCode": {"conversionUploadError": "CLICK_NOT_FOUND"},
        "message": "m",
        "location": {"fieldPathElements": [{"fieldName": "conversions", "index": 0}]},
    }
]
EVERY_FIELD_READ: dict[str, Any] = {
    "error": {
        "code": 100,
        "status": "INVALID_ARGUMENT",
        "message": "data[1] is invalid",
        "error_user_msg": "m",
        "error_user_title": "t",
        "is_transient": False,
        "error_data": json.dumps({"event_index": 1}),
        "details": [{"errors": _ROW_ERRORS}],
    },
    "events_received": 2,
    "code": 0,
    "message": "OK",
    "elements": [{"status": 201}, {"status": 400, "error": {"code": "FIELD_VALIDATION_ERROR", "message": "m"}}],
    "partialFailureError": {"code": 3, "message": "m", "details": [{"errors": _ROW_ERRORS}]},
    "validationMessages": [{"fieldPath": "events", "description": "d", "validationCode": "NAME_INVALID"}],
    "failed_records": [{"index": 0, "field": "f", "message": "m"}],
    "quota_limited": ["events"],
    "throttled_events": [0],
    "silenced_events": [1],
    "silenced_devices": ["d"],
    "missing_field": "event_type",
    "events_with_invalid_fields": {"time": [0]},
    "exceeded_daily_quota_users": {"u": 1},
    "exceeded_daily_quota_devices": {"d": 1},
}
WRONG_TYPES: list[Any] = [[], {}, "x", "y" * 5000, 10**60, -7, 1.5, True, None, [[[["deep"]]]]]
LISTED_WRONG_TYPES: list[Any] = [{"events_received": "x"}, {"error": []}, [], "string", None]
ERROR_CLASS = re.compile(r"[a-z0-9_]{1,80}")


def built_request(label: str, destination_type: str, reason: str) -> OutboundRequest:
    provider = get_provider(destination_type)
    event_type = "conversion.sale" if "send_conversion" in provider.action_types else "link.clicked"
    events = [make_event(event_type, event_id=f"0f8fad5b-d9cb-469f-a165-70867728950{n}") for n in (1, 2)]
    items = [make_item(provider, event, reason=reason) for event in events]
    credentials = provider.preview_authorization(CREDENTIALS[destination_type]).credentials
    built = provider.build_requests(items, credentials, now=time.time())
    assert not built.skipped and built.requests, f"{label}: the sample events must be sendable"
    return built.requests[0]


def wrong_typed(document: Any) -> Iterator[Any]:
    """`document` with each value in it (the whole document too) replaced by each of WRONG_TYPES in turn."""
    yield from WRONG_TYPES
    if isinstance(document, dict):
        for key, value in document.items():
            for replaced in wrong_typed(value):
                yield {**document, key: replaced}
    elif isinstance(document, list):
        for index, value in enumerate(document):
            for replaced in wrong_typed(value):
                yield [*document[:index], replaced, *document[index + 1 :]]


def classified(request: OutboundRequest, destination_type: str, status: int, body: bytes) -> dict[int, Outcome]:
    outcomes = get_provider(destination_type).classify(request, ProviderResponse(status, {}, body))
    assert set(outcomes) == set(request.items), "every item of the request gets an outcome"
    return outcomes


def by_status(status: int) -> Verdict:
    return Verdict.RETRY if status in (408, 429) or status >= 500 else Verdict.PERMANENT


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(("label", "destination_type", "reason"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_an_unreadable_answer_gets_a_named_outcome_and_a_2xx_is_never_retried(
    label: str, destination_type: str, reason: str, status: int
) -> None:
    request = built_request(label, destination_type, reason)
    for name, body in UNREADABLE.items():
        outcomes = classified(request, destination_type, status, body)
        seen = {(outcome.verdict, outcome.error_class) for outcome in outcomes.values()}
        if status >= 300:
            # The status code decides when the body cannot add to it (design §8.1).
            assert seen == {(by_status(status), f"http_{status}")}, name
        elif label in READS_2XX_ANSWERS:
            # The provider answered the request: never sent again, and not passed off as delivered either.
            assert seen == {(Verdict.PERMANENT, "invalid_response")}, name
            assert all("not sent again" in (outcome.message or "") for outcome in outcomes.values()), name
        else:
            assert seen == {(Verdict.DELIVERED, None)}, name


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(("label", "destination_type", "reason"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_wrong_types_at_every_level_an_adapter_reads_still_give_every_item_a_named_outcome(
    label: str, destination_type: str, reason: str, status: int
) -> None:
    request = built_request(label, destination_type, reason)
    documents = [*wrong_typed(EVERY_FIELD_READ), *LISTED_WRONG_TYPES]
    for document in documents:
        body = json.dumps(document).encode()
        for outcome in classified(request, destination_type, status, body).values():
            case = f"{body[:160]!r}: {str(outcome)[:300]}"
            named = outcome.error_class is None or ERROR_CLASS.fullmatch(outcome.error_class) is not None
            assert named, f"error classes stay short machine-readable names; {case}"
            short = len(outcome.message or "") <= EXCERPT_CHARACTERS
            assert short, f"an outcome holds no more of an answer than its recorded excerpt; {case}"
            retried = 200 <= status < 300 and outcome.verdict is Verdict.RETRY
            assert not retried, f"a 2xx answer is never retried for what its body lacks; {case}"


# Retry-After values a header can carry that no number or date can hold: "²" passes str.isdigit, float() refuses it.
UNREADABLE_WAITS = ["²", "Mon, 99 Jan 99999999999999999999 00:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 +9999999999999"]


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("label", "destination_type", "reason"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_a_retry_after_no_clock_can_hold_is_ignored_and_the_answer_retried(
    label: str, destination_type: str, reason: str, status: int
) -> None:
    request = built_request(label, destination_type, reason)
    for wait in UNREADABLE_WAITS:
        headers = {"retry-after": wait, "x-ratelimit-reset": wait}
        answer = ProviderResponse(status, headers, b"")
        for outcome in get_provider(destination_type).classify(request, answer).values():
            assert outcome.verdict is Verdict.RETRY, wait
            assert outcome.retry_after is None or math.isfinite(outcome.retry_after), wait


OAUTH_TYPES = [name for name in DESTINATION_TYPES if get_provider(name).refreshes_authorization]
HOSTILE_TOKEN_ANSWERS = [
    *UNREADABLE.values(),
    json.dumps({"access_token": "t-1", "expires_in": 10**60, "refresh_token_expires_in": 10**60}).encode(),
    json.dumps({"access_token": "t-2", "expires_in": 1e300, "refresh_token_expires_in": 1e300}).encode(),
    json.dumps({"access_token": [], "error": {"x": 1}, "error_description": []}).encode(),
    json.dumps({"error": "invalid grant <script>" + "x" * 5000, "error_description": "y" * 5000}).encode(),
]


@dataclass(frozen=True)
class TokenEndpoint:
    """A `send` giving every token request the same answer."""

    answer: ProviderResponse

    def __call__(self, request: OutboundRequest) -> ProviderResponse:
        return self.answer


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("destination_type", OAUTH_TYPES)
def test_a_hostile_token_answer_gives_a_token_or_a_named_authorization_failure(
    destination_type: str, status: int
) -> None:
    provider = get_provider(destination_type)
    for number, body in enumerate(HOSTILE_TOKEN_ANSWERS):
        # A refresh token of its own per answer: no token cached from an earlier one may skip the request.
        credentials = {**CREDENTIALS[destination_type], "refresh_token": f"hostile-token-answer-{number}"}
        token_endpoint = TokenEndpoint(ProviderResponse(status, {}, body))
        try:
            authorized = provider.authorize(credentials, token_endpoint)
        except AuthorizationFailed as failed:
            outcome = failed.outcome
            assert outcome.verdict is Verdict.PERMANENT and ERROR_CLASS.fullmatch(outcome.error_class or ""), body[:80]
            assert len(outcome.message or "") <= EXCERPT_CHARACTERS, body[:80]
        else:
            assert status == 200, body[:80]
            assert authorized["access_token"] in ("t-1", "t-2"), body[:80]
            assert provider.credential_expiry(credentials) is None, "a lifetime no date holds is no expiry"
        finally:
            provider.forget_authorization(credentials)
