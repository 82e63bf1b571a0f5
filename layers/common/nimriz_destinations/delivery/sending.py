"""Sending one group of items to one destination, the one way the dispatcher and the provider tests do it:
authorize, build the provider's requests, send each, classify each answer. After a 401 from a provider whose
credentials can refresh, the token is forgotten, obtained again and that request sent once more; items refused only
because a batch-mate was refused (`Outcome.resend_now`) are sent again without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..netguard import UnsafeDestination
from ..providers.base import AuthorizationFailed, DeliveryItem, OutboundRequest, Outcome, Provider, ProviderResponse
from ..redaction import redacted_excerpt, response_text
from .prepare import shown_request
from .sender import HttpSender, SendFailed

EXCERPT_CHARACTERS = 1024

NOT_IN_TIME = Outcome.retry("not_started", "There was no time left in this invocation to send it.")


@dataclass(slots=True)
class SendResult:
    outcome: Outcome
    http_status: int | None = None
    duration_ms: int | None = None
    response_excerpt: str | None = None
    request: dict[str, Any] | None = None
    sent: bool = True  # False: decided without a request to the destination (not an attempt)


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
        """Results by the items' positions. `may_start` is asked before each request: a request it refuses is not
        sent (`not_started`, not an attempt), e.g. when the invocation has no time left for it."""
        try:
            authorized = self._authorize(provider, credentials)
        except AuthorizationFailed as exc:  # e.g. a revoked refresh token: permanent; token endpoint down: retry
            return {position: SendResult(exc.outcome) for position in range(len(items))}
        results = self._send_built(provider, credentials, items, authorized, may_start)
        # Every round drops at least one refused item, so this ends (at the latest when nothing is left to resend).
        while True:
            again = sorted(p for p, result in results.items() if result.outcome.resend_now)
            if not again or len(again) == len(items) or not may_start():
                return results
            subset = [items[position] for position in again]
            resent = self._send_built(provider, credentials, subset, authorized, may_start)
            if all(result.outcome.resend_now for result in resent.values()):
                return results  # no progress: leave them as ordinary retries
            results.update({again[index]: result for index, result in resent.items()})

    def _send_built(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        items: Sequence[DeliveryItem],
        authorized: Mapping[str, Any],
        may_start: Callable[[], bool],
    ) -> dict[int, SendResult]:
        built = provider.build_requests(items, authorized, now=self._clock())
        results = {position: SendResult(outcome, sent=False) for position, outcome in built.skipped.items()}
        for request in built.requests:
            if may_start():
                results.update(self._send_one(provider, credentials, items, request))
            else:
                results.update(dict.fromkeys(request.items, SendResult(NOT_IN_TIME, sent=False)))
        missing = set(range(len(items))) - results.keys()
        for position in missing:  # an adapter that forgot an item must not make it vanish: back untried
            results[position] = SendResult(Outcome.retry("adapter_error", "No request was built for it."), sent=False)
        return results

    def _authorize(self, provider: Provider, credentials: Mapping[str, Any]) -> Mapping[str, Any]:
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
    ) -> dict[int, SendResult]:
        started = time.monotonic()
        try:
            response = self._sender.send(provider.destination_type, request)
            if response.status == 401 and provider.can_refresh_authorization(credentials):
                # An OAuth provider's token may have expired early: refresh once and resend this request.
                provider.forget_authorization(credentials)
                refreshed = self._authorize(provider, credentials)
                subset = [items[position] for position in request.items]
                rebuilt = provider.build_requests(subset, refreshed, now=self._clock()).requests
                if rebuilt:
                    request = _renumbered(rebuilt[0], request.items)
                    response = self._sender.send(provider.destination_type, request)
        except (SendFailed, AuthorizationFailed) as exc:  # no answer, or the refresh after a 401 failed
            return dict.fromkeys(request.items, SendResult(exc.outcome, request=_shown(request)))
        except UnsafeDestination as exc:  # refused before connecting: not an attempt, and final
            outcome = Outcome.permanent("unsafe_destination", f"refused by the SSRF guard: {exc}")
            return dict.fromkeys(request.items, SendResult(outcome, request=_shown(request), sent=False))
        duration_ms = int((time.monotonic() - started) * 1000)
        excerpt = response_excerpt(response, request.secrets)
        outcomes = provider.classify(request, response)
        return {
            position: SendResult(
                outcomes.get(position, Outcome.retry("adapter_error", "The response was not classified.")),
                http_status=response.status,
                duration_ms=duration_ms,
                response_excerpt=excerpt,
                request=_shown(request),
            )
            for position in request.items
        }


def response_excerpt(response: ProviderResponse, secrets: Sequence[str]) -> str:
    """The start of a response body as recorded: its first EXCERPT_CHARACTERS, redacted (only they are read)."""
    text = response_text(response.body, cut=response.truncated)
    return redacted_excerpt(text, secrets, EXCERPT_CHARACTERS, cut=response.truncated)


def _shown(request: OutboundRequest) -> dict[str, Any]:
    return shown_request(request, request.secrets, with_content=False)


def _renumbered(request: OutboundRequest, positions: tuple[int, ...]) -> OutboundRequest:
    """A request rebuilt from a subset of items carries positions 0..n-1; map them back to the originals."""
    return replace(request, items=tuple(positions[i] for i in request.items))
