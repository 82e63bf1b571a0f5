"""Sending one group of items to one destination, the one way the dispatcher and the provider tests do it:
authorize, build the provider's requests, send each through the HTTP sender (`sender.py`), classify each answer.
After a 401 from a provider whose credentials can refresh, the token is forgotten, obtained again and that request
sent once more. Items a provider refused together (`Outcome.resend_now`: the whole request was refused, because of a
batch-mate it named or of one it did not name) are sent again at once in smaller requests until each refusal is its
item's own: without the named item, else in halves, down to a request of one item (design §8.1, "refused together").

`SendResult.sent` says whether a request carrying the item went out: only such a result is an attempt, and
`SendResult.earlier` holds the answered requests it rode in before, each an attempt too. Authorizing,
building and a request the HTTP client refuses to send fail before the wire (design §8.1). Every step that can wait
asks `may_start` first (authorizing, each request, the refresh after a 401), so a group never outlives its
invocation.

Once a request has gone out, nothing may send its items again but their own outcome: `GroupSender.send` raises
only before the group's first request (authorizing, building), so a caller turning an exception into retries
resends nothing. An unexpected failure later is that request's alone: before its answer an `internal_error` retry
of its items; after it, classifying that fails is `invalid_response` by the status code (design §8.1), so an answer
the provider gave a 2xx is never sent again because it could not be read.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..netguard import UnsafeDestination
from ..observability import logger
from ..providers.base import (
    AuthorizationFailed,
    DeliveryItem,
    OutboundRequest,
    Outcome,
    Provider,
    ProviderResponse,
    Verdict,
)
from ..providers.responses import invalid_response
from ..redaction import redacted_excerpt, response_text
from .prepare import shown_request
from .send_result import NOT_IN_TIME, SendResult
from .sender import HttpSender, SendFailed

EXCERPT_CHARACTERS = 1024

UNEXPECTED = Outcome.retry("internal_error", "Nimriz could not process this delivery; it will be retried.")
NO_TIME_TO_REFRESH = Outcome.retry(
    "unauthorized", "The access token was refused (401) and there was no time left to obtain a new one; retried."
)


def _always() -> bool:
    return True


class GroupSender:
    def __init__(self, sender: HttpSender, *, clock: Callable[[], float] = time.time) -> None:
        self._sender = sender
        self._clock = clock

    def send(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        items: Sequence[DeliveryItem],
        *,
        may_start: Callable[[], bool] = _always,
    ) -> dict[int, SendResult]:
        """Results by the items' positions. `may_start` is asked before authorizing and before each request: a request
        it refuses is not sent (`not_started`, not an attempt), e.g. when the invocation has no time left for it."""
        if not may_start():
            return dict.fromkeys(range(len(items)), SendResult(NOT_IN_TIME, sent=False))
        try:
            authorized = self.authorize(provider, credentials)
        except AuthorizationFailed as exc:  # e.g. a revoked refresh token: permanent; token endpoint down: retry
            return {position: SendResult(exc.outcome, sent=False) for position in range(len(items))}
        results, requests = self._send_built(provider, credentials, items, authorized, may_start)
        parts = deque(_refused_parts(results, requests, answered=set(results)))
        # Every part is smaller than the request it comes from, so this ends.
        while parts and may_start():
            part = parts.popleft()
            try:
                resent, resent_requests = self._send_built(
                    provider, credentials, [items[position] for position in part], authorized, may_start
                )
            except Exception as exc:  # rebuilding failed: what was sent stands
                _log_unexpected("rebuilding items refused together failed", provider, exc)
                break
            answered = set()
            for index, result in resent.items():
                if result.sent:  # else (no time, refused before the wire) its last answer stands
                    previous = results[part[index]]
                    results[part[index]] = replace(result, earlier=(*previous.earlier, replace(previous, earlier=())))
                    answered.add(part[index])
            carried = [tuple(part[index] for index in request) for request in resent_requests]
            parts.extend(_refused_parts(results, carried, answered=answered))
        return {position: _not_isolated(result) for position, result in results.items()}

    def _send_built(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        items: Sequence[DeliveryItem],
        authorized: Mapping[str, Any],
        may_start: Callable[[], bool],
    ) -> tuple[dict[int, SendResult], list[tuple[int, ...]]]:
        """Results by position, and the positions each request built carried."""
        built = provider.build_requests(items, authorized, now=self._clock())
        results = {position: SendResult(outcome, sent=False) for position, outcome in built.skipped.items()}
        for request in built.requests:
            if may_start():
                try:
                    results.update(self._send_one(provider, credentials, items, request, may_start))
                except Exception as exc:  # before its answer (`_answered` never raises): this request's items only
                    _log_unexpected("sending a request failed unexpectedly", provider, exc)
                    results.update(dict.fromkeys(request.items, SendResult(UNEXPECTED)))
            else:
                results.update(dict.fromkeys(request.items, SendResult(NOT_IN_TIME, sent=False)))
        missing = set(range(len(items))) - results.keys()
        for position in missing:  # an adapter that forgot an item must not make it vanish: back untried
            results[position] = SendResult(Outcome.retry("adapter_error", "No request was built for it."), sent=False)
        return results, [request.items for request in built.requests]

    def authorize(self, provider: Provider, credentials: Mapping[str, Any]) -> Mapping[str, Any]:
        """`provider.authorize` with its token requests sent like any other: an authorization endpoint that gives
        no answer fails the delivery the way the provider's own endpoint would (e.g. `network_error`, retried)."""

        def send(request: OutboundRequest) -> ProviderResponse:
            try:
                return self._sender.send(provider.destination_type, request)
            except SendFailed as exc:
                failure = exc.outcome
                message = f"could not obtain an access token: {failure.message}"
                raise AuthorizationFailed(replace(failure, message=message)) from None

        return provider.authorize(credentials, send)

    def _send_one(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        items: Sequence[DeliveryItem],
        request: OutboundRequest,
        may_start: Callable[[], bool],
    ) -> dict[int, SendResult]:
        started = time.monotonic()
        try:
            response = self._sender.send(provider.destination_type, request)
        except SendFailed as exc:  # no answer (or, `exc.sent` False, the request could not go out at all)
            return dict.fromkeys(request.items, SendResult(exc.outcome, request=_shown(request), sent=exc.sent))
        except UnsafeDestination as exc:  # refused before connecting: not an attempt, and final
            outcome = Outcome.permanent("unsafe_destination", f"refused by the SSRF guard: {exc}")
            return dict.fromkeys(request.items, SendResult(outcome, request=_shown(request), sent=False))
        if response.status == 401 and provider.can_refresh_authorization(credentials):
            return self._refreshed(provider, credentials, items, request, response, may_start, started)
        return _answered(provider, request, response, int((time.monotonic() - started) * 1000))

    def _refreshed(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        items: Sequence[DeliveryItem],
        request: OutboundRequest,
        response: ProviderResponse,
        may_start: Callable[[], bool],
        started: float,
    ) -> dict[int, SendResult]:
        """After a 401 from a provider whose token may have expired early: forget it, obtain another and resend the
        request, each step only if it may start (else the next attempt starts with a new token). The refused request
        was the attempt: whatever happens next is its outcome."""
        provider.forget_authorization(credentials)
        try:
            if not may_start():
                return self._not_refreshed(request, started)
            refreshed = self.authorize(provider, credentials)
            subset = [items[position] for position in request.items]
            rebuilt = provider.build_requests(subset, refreshed, now=self._clock()).requests
            if rebuilt:
                if not may_start():
                    return self._not_refreshed(request, started)
                request = _renumbered(rebuilt[0], request.items)
                response = self._sender.send(provider.destination_type, request)
        except (SendFailed, AuthorizationFailed) as exc:
            return dict.fromkeys(request.items, SendResult(exc.outcome, request=_shown(request)))
        except UnsafeDestination as exc:
            outcome = Outcome.permanent("unsafe_destination", f"refused by the SSRF guard: {exc}")
            return dict.fromkeys(request.items, SendResult(outcome, request=_shown(request)))
        return _answered(provider, request, response, int((time.monotonic() - started) * 1000))

    @staticmethod
    def _not_refreshed(request: OutboundRequest, started: float) -> dict[int, SendResult]:
        duration_ms = int((time.monotonic() - started) * 1000)
        return dict.fromkeys(request.items, SendResult(NO_TIME_TO_REFRESH, 401, duration_ms, request=_shown(request)))


def _refused_parts(
    results: dict[int, SendResult], requests: Sequence[tuple[int, ...]], *, answered: set[int]
) -> list[list[int]]:
    """What to resend at once of each request just `answered` whose items were refused together: the refused items,
    or halves of the request when the refusal named none of them. A one-item request's refusal is the item's own."""
    parts = []
    for carried in requests:
        refused = [position for position in carried if position in answered and _refused_together(results[position])]
        if len(carried) == 1 and refused:
            result = results[carried[0]]
            results[carried[0]] = replace(result, outcome=replace(result.outcome, resend_now=False))
        elif len(refused) == len(carried) > 1:
            middle = len(refused) // 2
            parts += [refused[:middle], refused[middle:]]
        elif refused:
            parts.append(refused)
    return parts


def _refused_together(result: SendResult) -> bool:
    return result.sent and result.outcome.resend_now


def _not_isolated(result: SendResult) -> SendResult:
    """An item still refused together (no time was left to resend it) is retried later: a refusal of its request
    is not its own."""
    outcome = result.outcome
    if not outcome.resend_now:
        return result
    detail = outcome.message or outcome.error_class
    message = f"{detail}; refused with other events and not yet resent on its own: it will be tried again"
    return replace(result, outcome=replace(outcome, verdict=Verdict.RETRY, message=message, resend_now=False))


def _answered(
    provider: Provider, request: OutboundRequest, response: ProviderResponse, duration_ms: int
) -> dict[int, SendResult]:
    """Each carried item's result from the answer to its request; never raises, so nothing after an answer can
    make the caller send these items again."""
    try:
        excerpt, shown = response_excerpt(response, request.secrets), _shown(request)
    except Exception as exc:  # what is shown with the outcomes, not the outcomes themselves
        _log_unexpected("recording an answer failed", provider, exc, http_status=response.status)
        excerpt, shown = None, None
    outcomes = classified_outcomes(provider, request, response)
    return {
        position: SendResult(
            outcomes[position],
            http_status=response.status,
            duration_ms=duration_ms,
            response_excerpt=excerpt,
            request=shown,
        )
        for position in request.items
    }


def classified_outcomes(provider: Provider, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
    """Every carried item's outcome by `provider.classify`. An item it fails on or leaves out (an adapter bug) gets
    `invalid_response` by the status code: permanent after a 2xx, so a request the provider took is not sent again
    because its answer could not be understood (design §8.1)."""
    try:
        classified = provider.classify(request, response)
        problem = "no outcome was classified for this event"
    except Exception as exc:
        _log_unexpected("classifying an answer failed", provider, exc, http_status=response.status)
        classified, problem = {}, f"classifying it failed ({type(exc).__name__})"
    failure = invalid_response(provider.destination_type, response, problem)
    return {position: classified.get(position, failure) for position in request.items}


def _log_unexpected(what: str, provider: Provider, exc: Exception, **context: object) -> None:
    """An error line naming the exception's type and where it was raised, never its text: an exception raised
    while reading an answer may quote it, and an answer may echo a secret."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}" if frame else "unknown"
    extra = {"destination_type": provider.destination_type, "error_type": type(exc).__name__, "where": where}
    logger.error(what, extra={**extra, **context})


def response_excerpt(response: ProviderResponse, secrets: Sequence[str]) -> str:
    """The start of a response body as recorded: its first EXCERPT_CHARACTERS, redacted (only they are read)."""
    text = response_text(response.body, cut=response.truncated)
    return redacted_excerpt(text, secrets, EXCERPT_CHARACTERS, cut=response.truncated)


def _shown(request: OutboundRequest) -> dict[str, Any]:
    return shown_request(request, request.secrets, with_content=False)


def _renumbered(request: OutboundRequest, positions: tuple[int, ...]) -> OutboundRequest:
    """A request rebuilt from a subset of items carries positions 0..n-1; map them back to the originals."""
    return replace(request, items=tuple(positions[i] for i in request.items))
