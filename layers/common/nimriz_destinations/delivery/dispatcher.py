"""The dispatcher: delivery jobs in, provider requests out, every attempt recorded.

Per batch: skip jobs already finished (idempotency on the delivery id), group the rest by action, load the
configuration and credentials through bounded caches, apply privacy rules and the mapping, let the provider
build (batched) requests, send, classify per item, then record all attempts in one batched write. Retryable
failures get their next attempt scheduled through the message's visibility timeout and are reported back as
failed records; after the last attempt, or on a permanent failure, the delivery is dead-lettered.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..errors import DomainError
from ..jobs import DeliveryJob
from ..mapping import CompiledMapping, apply_privacy
from ..netguard import UnsafeDestination
from ..observability import logger
from ..providers import get_provider
from ..providers.base import (
    AuthorizationFailed,
    DeliveryItem,
    OutboundRequest,
    Outcome,
    Provider,
    ProviderResponse,
    Verdict,
)
from ..redaction import redact_secrets, redacted_excerpt, response_text
from ..storage.deliveries import AttemptRecord, DeadLetter, DeliveryLog, DeliverySummary, DeliveryWrite
from ..storage.destinations import DestinationStore
from ..storage.records import ActionRecord, DestinationRecord
from ..storage.secrets import SecretRef, SecretStore
from .config import CompiledActions, DestinationConfigs
from .retry import RetryPolicy
from .sender import HttpSender, SendFailed

FINISHED_STATUSES = frozenset({"delivered", "dead_lettered", "skipped"})
EXCERPT_CHARACTERS = 1024


@dataclass(frozen=True, slots=True)
class ReceivedJob:
    message_id: str
    receipt_handle: str
    attempt: int  # SQS ApproximateReceiveCount: 1 on the first delivery of this message
    job: DeliveryJob


@dataclass(frozen=True, slots=True)
class _Plan:
    provider: Provider
    destination_type: str
    credentials: dict[str, Any]
    mapping: CompiledMapping


@dataclass(slots=True)
class _Result:
    outcome: Outcome
    http_status: int | None = None
    duration_ms: int | None = None
    response_excerpt: str | None = None
    request: dict[str, Any] | None = None


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Dispatcher:
    def __init__(
        self,
        *,
        configs: DestinationConfigs,
        compiled: CompiledActions,
        secrets: SecretStore,
        log: DeliveryLog,
        destinations: DestinationStore,
        sender: HttpSender,
        retry: RetryPolicy,
        schedule_retry: Callable[[str, int], None],
        clock: Callable[[], float] = time.time,
        concurrency: int = 8,
    ) -> None:
        self._configs = configs
        self._compiled = compiled
        self._secrets = secrets
        self._log = log
        self._destinations = destinations
        self._sender = sender
        self._retry = retry
        self._schedule_retry = schedule_retry  # (receipt handle, delay seconds)
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deliver")

    def dispatch(self, received: Sequence[ReceivedJob]) -> set[str]:
        """Deliver a batch; returns the message ids to hand back to the queue (their retry is scheduled)."""
        statuses = self._log.statuses([(r.job.workspace_id, r.job.destination_id, r.job.delivery_id) for r in received])
        pending, seen = [], set()
        for entry in received:
            delivery_id = entry.job.delivery_id
            # Finished earlier, or the same delivery twice in this batch: acknowledge without sending again.
            if statuses.get(delivery_id) not in FINISHED_STATUSES and delivery_id not in seen:
                pending.append(entry)
            seen.add(delivery_id)
        groups: dict[tuple[str, str, str], list[ReceivedJob]] = defaultdict(list)
        for entry in pending:
            groups[(entry.job.workspace_id, entry.job.destination_id, entry.job.action_id)].append(entry)

        results: dict[str, _Result] = {}
        chunks: list[tuple[_Plan, list[ReceivedJob]]] = []
        for (workspace_id, destination_id, action_id), entries in groups.items():
            plan = self._plan(workspace_id, destination_id, action_id, entries)
            if isinstance(plan, Outcome):
                results.update({entry.message_id: _Result(plan) for entry in entries})
                continue
            size = plan.provider.max_batch_size
            chunks += [(plan, entries[start : start + size]) for start in range(0, len(entries), size)]
        # Requests of different chunks are independent: send them concurrently (bounded), like a pool of workers.
        for chunk_results in self._pool.map(lambda task: self._deliver_chunk(*task), chunks):
            results.update(chunk_results)

        writes: list[DeliveryWrite] = []
        retry_later: set[str] = set()
        health_updates = []
        for (workspace_id, destination_id, action_id), entries in groups.items():
            for entry in entries:
                write, retrying = self._settle(entry, results[entry.message_id])
                writes.append(write)
                if retrying:
                    retry_later.add(entry.message_id)
            outcomes = [results[e.message_id] for e in entries]
            health_updates.append(
                self._pool.submit(self._record_health, workspace_id, destination_id, action_id, outcomes)
            )
        self._log.write(writes)  # the health updates run meanwhile: independent items
        for update in health_updates:
            update.result()
        return retry_later

    def park(self, received: Sequence[ReceivedJob]) -> None:
        """Jobs the queue gave up on (the dispatcher failed on them maxReceiveCount times): record them as dead
        letters, so they are listed and replayable like every other failed delivery."""
        statuses = self._log.statuses([(r.job.workspace_id, r.job.destination_id, r.job.delivery_id) for r in received])
        outcome = Outcome.permanent(
            "processing_failed", "Nimriz could not process this delivery repeatedly; replay it once the cause is fixed."
        )
        writes = [
            self._settle(entry, _Result(outcome))[0]
            for entry in received
            if statuses.get(entry.job.delivery_id) not in FINISHED_STATUSES
        ]
        self._log.write(writes)

    # -- one action's jobs ---------------------------------------------------------------------------------

    def _plan(
        self, workspace_id: str, destination_id: str, action_id: str, entries: list[ReceivedJob]
    ) -> _Plan | Outcome:
        """What sending this action's jobs needs (cached config, credentials, mapping), or why nothing is sent."""
        destination = self._configs.destination(workspace_id, destination_id)
        action = destination.action(action_id) if destination else None
        refusal = _refusal(destination, action, testing=all(e.job.reason == "test" for e in entries))
        if refusal is not None:
            return refusal
        assert destination is not None and action is not None
        try:
            credentials: dict[str, Any] = {}
            if destination.secret_arn and destination.secret_version:
                credentials = self._secrets.read(SecretRef(destination.secret_arn, destination.secret_version))
            mapping = self._compiled.mapping(destination, action)
        except Exception:  # an outage must not lose events: retry, then dead-letter
            logger.exception("could not load the delivery configuration", extra={"destination_id": destination_id})
            return Outcome.retry("internal_error", "Nimriz could not load this destination's configuration.")
        return _Plan(get_provider(destination.type), destination.type, credentials, mapping)

    def _deliver_chunk(self, plan: _Plan, chunk: list[ReceivedJob]) -> dict[str, _Result]:
        try:
            items = []
            for entry in chunk:
                event = apply_privacy(entry.job.event)
                items.append(
                    DeliveryItem(
                        delivery_id=entry.job.delivery_id,
                        event=event,
                        payload=plan.mapping.apply_to_private(event, plan.provider.default_payload),
                        reason=_attempt_reason(entry),
                        attempt=entry.attempt,
                    )
                )
            by_position = self._send_items(plan.provider, plan.destination_type, plan.credentials, items)
        except AuthorizationFailed as exc:  # e.g. a revoked OAuth refresh token: permanent; token endpoint down: retry
            return {entry.message_id: _Result(exc.outcome) for entry in chunk}
        except Exception as exc:  # a bug must not lose events: retry, then dead-letter
            logger.exception("delivery failed unexpectedly", extra={"destination_type": plan.destination_type})
            error_class = exc.code.lower() if isinstance(exc, DomainError) else "internal_error"
            outcome = Outcome.retry(error_class, "Nimriz could not process this delivery; it will be retried.")
            return {entry.message_id: _Result(outcome) for entry in chunk}
        return {entry.message_id: by_position[position] for position, entry in enumerate(chunk)}

    def _send_items(
        self, provider: Provider, destination_type: str, credentials: dict[str, Any], items: list[DeliveryItem]
    ) -> dict[int, _Result]:
        authorized = self._authorize(provider, destination_type, credentials)
        built = provider.build_requests(items, authorized, now=self._clock())
        results = {position: _Result(outcome) for position, outcome in built.skipped.items()}
        for request in built.requests:
            results.update(self._send_one(provider, destination_type, credentials, items, request))
        missing = set(range(len(items))) - results.keys()
        for position in missing:  # an adapter that forgot an item must not make it vanish
            results[position] = _Result(Outcome.retry("adapter_error", "The provider adapter produced no request."))
        return results

    def _authorize(self, provider: Provider, destination_type: str, credentials: dict[str, Any]) -> Mapping[str, Any]:
        """`provider.authorize` with its token requests sent like any other: an authorization endpoint that gives
        no answer fails the delivery the way the provider's own endpoint would (e.g. `network_error`, retried)."""

        def send(request: OutboundRequest) -> ProviderResponse:
            try:
                return self._sender.send(destination_type, request)
            except SendFailed as exc:
                failure = exc.outcome
                message = f"could not obtain an access token: {failure.message}"
                raise AuthorizationFailed(replace(failure, message=message)) from None

        return provider.authorize(credentials, send)

    def _send_one(
        self,
        provider: Provider,
        destination_type: str,
        credentials: dict[str, Any],
        items: list[DeliveryItem],
        request: OutboundRequest,
    ) -> dict[int, _Result]:
        started = time.monotonic()
        try:
            response = self._sender.send(destination_type, request)
            if response.status == 401 and provider.refreshes_authorization:
                # An OAuth provider's token may have expired early: refresh once and resend this request.
                provider.forget_authorization(credentials)
                refreshed = self._authorize(provider, destination_type, credentials)
                subset = [items[position] for position in request.items]
                rebuilt = provider.build_requests(subset, refreshed, now=self._clock()).requests
                if rebuilt:
                    request = _renumbered(rebuilt[0], request.items)
                    response = self._sender.send(destination_type, request)
        except (SendFailed, AuthorizationFailed) as exc:  # no answer, or the refresh after a 401 failed
            return dict.fromkeys(request.items, _Result(exc.outcome, request=_shown(request)))
        except UnsafeDestination as exc:
            outcome = Outcome.permanent("unsafe_destination", f"refused by the SSRF guard: {exc}")
            return dict.fromkeys(request.items, _Result(outcome, request=_shown(request)))
        duration_ms = int((time.monotonic() - started) * 1000)
        excerpt = response_excerpt(response, request.secrets)
        outcomes = provider.classify(request, response)
        return {
            position: _Result(
                outcomes.get(position, Outcome.retry("adapter_error", "The response was not classified.")),
                http_status=response.status,
                duration_ms=duration_ms,
                response_excerpt=excerpt,
                request=_shown(request),
            )
            for position in request.items
        }

    # -- recording -----------------------------------------------------------------------------------------

    def _settle(self, entry: ReceivedJob, result: _Result) -> tuple[DeliveryWrite, bool]:
        job, attempt, now = entry.job, entry.attempt, self._clock()
        outcome = result.outcome
        retrying = outcome.verdict is Verdict.RETRY and self._retry.should_retry(attempt)
        next_attempt_at = None
        if retrying:
            delay = self._retry.delay_after(attempt, outcome.retry_after)
            self._schedule_retry(entry.receipt_handle, delay)
            next_attempt_at = iso(now + delay)
        status = _status(outcome.verdict, retrying)
        message = outcome.message
        if outcome.verdict is Verdict.RETRY and not retrying:
            message = f"gave up after {attempt} attempts: {message or outcome.error_class}"
        summary = DeliverySummary(
            delivery_id=job.delivery_id,
            destination_id=job.destination_id,
            action_id=job.action_id,
            event_id=str(job.event.get("id")),
            event_type=str(job.event.get("type")),
            reason=job.reason,
            status=status,
            attempts=attempt,
            last_http_status=result.http_status,
            last_error_class=outcome.error_class,
            last_message=message,
            created_at=job.queued_at,
            updated_at=iso(now),
        )
        record = AttemptRecord(
            delivery_id=job.delivery_id,
            attempt=attempt,
            reason=_attempt_reason(entry),
            outcome=outcome.verdict.value,
            http_status=result.http_status,
            duration_ms=result.duration_ms,
            error_class=outcome.error_class,
            message=message,
            response_excerpt=result.response_excerpt,
            request=result.request,
            attempted_at=iso(now),
            next_attempt_at=next_attempt_at,
        )
        dead_letter = None
        if status == "dead_lettered":
            dead_letter = DeadLetter(
                delivery_id=job.delivery_id,
                action_id=job.action_id,
                event_id=summary.event_id,
                event_type=summary.event_type,
                error_class=outcome.error_class,
                message=message,
                http_status=result.http_status,
                response_excerpt=result.response_excerpt,
                attempts=attempt,
                dead_lettered_at=iso(now),
                job=job.model_dump(mode="json"),
            )
        return DeliveryWrite(job.workspace_id, summary, record, dead_letter), retrying

    def _record_health(self, workspace_id: str, destination_id: str, action_id: str, results: list[_Result]) -> None:
        verdicts = {result.outcome.verdict for result in results}
        if Verdict.DELIVERED in verdicts:
            success = True
        elif verdicts & {Verdict.RETRY, Verdict.PERMANENT}:
            success = False
        else:
            return  # only skips: nothing about the destination's health
        self._destinations.record_health(
            workspace_id, destination_id, action_id, success=success, at=iso(self._clock())
        )


def _refusal(destination: DestinationRecord | None, action: ActionRecord | None, *, testing: bool) -> Outcome | None:
    """Why a group of jobs is not sent at all (a test send may target a disabled action: users test first)."""
    if destination is None:
        return Outcome.skipped("destination_deleted", "The destination no longer exists.")
    if action is None:
        return Outcome.skipped("action_deleted", "The action no longer exists on this destination.")
    if not get_provider(destination.type).delivers:
        return Outcome.skipped("nothing_to_deliver", "This action type delivers nothing server-side.")
    if not testing and not destination.enabled:
        return Outcome.skipped("destination_disabled", "The destination is disabled.")
    if not testing and not action.enabled:
        return Outcome.skipped("action_disabled", "The action is disabled.")
    return None


def _attempt_reason(entry: ReceivedJob) -> str:
    """X-Nim-Delivery-Reason of this attempt: test stays test; a later attempt of live/replay is a retry."""
    if entry.job.reason == "test" or entry.attempt == 1:
        return entry.job.reason
    return "retry"


def _status(verdict: Verdict, retrying: bool) -> str:
    if verdict is Verdict.DELIVERED:
        return "delivered"
    if verdict is Verdict.SKIPPED:
        return "skipped"
    return "retrying" if retrying else "dead_lettered"


def response_excerpt(response: ProviderResponse, secrets: Sequence[str]) -> str:
    """The start of a response body as recorded: redacted first, then cut to EXCERPT_CHARACTERS."""
    text = response_text(response.body, cut=response.truncated)
    return redacted_excerpt(text, secrets, EXCERPT_CHARACTERS, cut=response.truncated)


def _shown(request: OutboundRequest) -> dict[str, Any]:
    return {"method": request.method, "url": redact_secrets(request.url, request.secrets)}


def _renumbered(request: OutboundRequest, positions: tuple[int, ...]) -> OutboundRequest:
    """A request rebuilt from a subset of items carries positions 0..n-1; map them back to the originals."""
    return replace(request, items=tuple(positions[i] for i in request.items))
