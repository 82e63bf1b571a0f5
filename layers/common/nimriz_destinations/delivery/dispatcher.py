"""The dispatcher: delivery jobs in, provider requests out, every attempt recorded.

Per batch (one Lambda invocation, planned against its remaining time):
1. One strongly consistent BatchGetItem of the batch's destination items (version + circuit): jobs of a deleted
   destination are skipped `destination_deleted` (its cached config and credentials dropped), a newer version is
   reloaded before sending, and an open circuit persisted by another dispatcher is adopted.
2. Per action, the configuration, credentials and mapping come from bounded caches; a failure there returns that
   action's jobs to the queue untried (no attempt consumed), the rest of the batch goes on.
3. Chunks (the provider's batch size) run in lanes (`lanes.py`): each workspace of the batch gets its share of
   the threads, each destination at most `concurrency // 4` of them, so hanging endpoints hold a bounded share of
   their own workspace's threads and never another workspace's. A chunk starts
   only if its requests can finish (the sender's total deadline) with time left to record, and only while its
   destination's circuit admits it; otherwise its jobs go back to the queue unsent and uncounted.
4. Before sending, each job takes its lease on the delivery's own record (`DeliveryLog.lease`): the attempt number
   is the record's send count + 1, never the queue's receive count; a finished delivery is acknowledged, one
   leased by another copy or scheduled later goes back to the queue for that long.
5. After sending, each job's outcome is recorded in one transaction (`DeliveryLog.record`). Retryable failures get
   `next_attempt_at` in the record and the message's visibility set to the same delay; after the last attempt, or
   on a permanent failure, the delivery is dead-lettered in that same transaction.
6. Once per batch, after the returned messages' visibilities are set: each destination's health is updated from
   what was sent (`HealthKeeper`: one update per destination, plus a conditional write and an operational notice
   on a transition), the customer counters get one update per (action, hour), and the EMF metrics per
   destination type are emitted.
Every message not acknowledged is returned to the queue with the delay its case needs (`dispatch` reports it as
failed), so a failure in any step for one job or destination affects that job or destination only.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..clock import iso_from_unix, iso_utc
from ..errors import DomainError
from ..jobs import DeliveryJob, ReceivedJob
from ..mapping import CompiledMapping
from ..notices import is_notice
from ..observability import DeliveryTally, emit_delivery_metrics, logger
from ..providers import get_provider
from ..providers.base import (
    Outcome,
    Provider,
    Verdict,
)
from ..storage.counters import CounterKey, Counts, DeliveryCounters
from ..storage.deliveries import (
    AttemptRecord,
    DeadLetter,
    DeliveryLog,
    DeliverySummary,
    DeliveryWrite,
    Lease,
    LeaseRefusal,
    Refused,
)
from ..storage.destinations import DestinationStore
from ..storage.records import ActionRecord, DestinationRecord
from ..storage.secrets import SecretRef, SecretStore
from .circuit import Admission, CircuitBreakers, DestinationKey
from .config import CompiledActions, DestinationConfigs
from .health import HealthKeeper, SentOutcome
from .lanes import send_fairly
from .prepare import MappedEventTooLarge, delivery_item
from .retry import SQS_MAX_VISIBILITY_SECONDS, RetryPolicy
from .sender import HttpSender
from .sending import UNEXPECTED, GroupSender, SendResult

# Kept free at the end of an invocation for recording outcomes and setting visibilities.
RECORD_RESERVE_SECONDS = 5.0
# A lease outlives the invocation that took it by this much (clock differences between hosts).
LEASE_MARGIN_SECONDS = 5.0
# Threads for leases, records and health updates (DynamoDB calls), apart from the lanes that send.
BOOKKEEPING_THREADS = 16
# Failures that say the endpoint is not working (with any HTTP status >= 500): they count towards its circuit.
CIRCUIT_FAILURES = frozenset({"timeout", "network_error"})

# Handed the (receipt handle, delay seconds) of every message going back to the queue, once per batch.
ReturnToQueue = Callable[[Sequence[tuple[str, int]]], None]


@dataclass(frozen=True, slots=True)
class _Plan:
    provider: Provider
    destination: DestinationRecord
    credentials: dict[str, Any]
    mapping: CompiledMapping

    @property
    def destination_type(self) -> str:
        return self.destination.type


@dataclass(slots=True)
class _Batch:
    """One invocation's bookkeeping, shared by its lanes."""

    deadline: float  # time.monotonic() by which the invocation must have returned
    lease_until: float  # epoch seconds: the leases this invocation takes last until then
    returns: dict[str, tuple[str, float]] = field(default_factory=dict)  # message id -> (receipt, delay seconds)
    outcomes: defaultdict[tuple[str, str, str], list[SendResult]] = field(default_factory=lambda: defaultdict(list))
    recorded: list[tuple[ReceivedJob, str, SendResult]] = field(default_factory=list)  # (job, its status, outcome)
    types: dict[DestinationKey, str] = field(default_factory=dict)  # destination -> type, from the plans
    pending: list[Future[None]] = field(default_factory=list)  # records under way
    lock: threading.Lock = field(default_factory=threading.Lock)

    def give_back(self, entry: ReceivedJob, delay: float, *, unless_decided: bool = False) -> None:
        with self.lock:
            if not (unless_decided and entry.message_id in self.returns):
                self.returns[entry.message_id] = (entry.receipt_handle, delay)

    def sent(self, entry: ReceivedJob, result: SendResult) -> None:
        with self.lock:
            self.outcomes[(*entry.destination, entry.job.action_id)].append(result)

    def settled(self, entry: ReceivedJob, status: str, result: SendResult) -> None:
        with self.lock:
            self.recorded.append((entry, status, result))


_DELETED = Outcome.skipped("destination_deleted", "The destination no longer exists.")
_NOT_APPLICABLE = Outcome.skipped("not_applicable", "Operational notices are delivered to webhook destinations only.")


class Dispatcher:
    def __init__(
        self,
        *,
        configs: DestinationConfigs,
        compiled: CompiledActions,
        secrets: SecretStore,
        log: DeliveryLog,
        destinations: DestinationStore,
        health: HealthKeeper,
        counters: DeliveryCounters,
        sender: HttpSender,
        retry: RetryPolicy,
        circuits: CircuitBreakers,
        return_to_queue: ReturnToQueue,
        clock: Callable[[], float] = time.time,
        concurrency: int = 8,
    ) -> None:
        self._configs = configs
        self._compiled = compiled
        self._secrets = secrets
        self._log = log
        self._destinations = destinations
        self._health = health
        self._counters = counters
        self._sender = sender
        self._group_sender = GroupSender(sender, clock=clock)
        self._retry = retry
        self._circuits = circuits
        self._return_to_queue = return_to_queue
        self._clock = clock
        self._concurrency = concurrency
        self._bookkeeping = ThreadPoolExecutor(max_workers=BOOKKEEPING_THREADS, thread_name_prefix="record")
        # The bulkheads (lanes.py): no destination gets more than this many of its workspace's threads in a batch.
        self._lanes_per_destination = max(1, concurrency // 4)

    def dispatch(self, received: Sequence[ReceivedJob], *, deadline: float) -> set[str]:
        """Deliver a batch before `deadline` (time.monotonic()); returns the message ids to report as failed:
        each is back on the queue with its visibility set to when it should be tried again."""
        batch = self._batch(deadline)
        entries = _first_copies(received)
        try:
            states = self._destinations.states(sorted({entry.destination for entry in entries}))
        except Exception:
            logger.exception("could not check the batch's destinations; its jobs go back to the queue untried")
            for entry in entries:
                batch.give_back(entry, self._untried_delay(entry))
            return self._hand_back(batch)

        groups: defaultdict[tuple[str, str, str], list[ReceivedJob]] = defaultdict(list)
        for entry in entries:
            groups[(*entry.destination, entry.job.action_id)].append(entry)
        lanes: defaultdict[DestinationKey, list[tuple[_Plan, list[ReceivedJob]]]] = defaultdict(list)
        for (workspace_id, destination_id, action_id), group in groups.items():
            state = states.get((workspace_id, destination_id))
            if state is None:
                self._forget_destination(workspace_id, destination_id)
                for entry in group:
                    self._in_background(batch, self._record_unsent, batch, entry, SendResult(_DELETED, sent=False))
                continue
            self._circuits.adopt((workspace_id, destination_id), state.circuit)
            try:
                plan = self._plan(workspace_id, destination_id, action_id, group, version=state.version)
            except Exception:  # an outage must not cost attempts: back to the queue untried
                logger.exception("could not load the delivery configuration", extra={"destination_id": destination_id})
                for entry in group:
                    batch.give_back(entry, self._untried_delay(entry))
                continue
            if isinstance(plan, Outcome):
                for entry in group:
                    self._in_background(batch, self._record_unsent, batch, entry, SendResult(plan, sent=False))
                continue
            batch.types[(workspace_id, destination_id)] = plan.destination_type
            size = plan.provider.max_batch_size
            lanes[(workspace_id, destination_id)].extend(
                (plan, group[start : start + size]) for start in range(0, len(group), size)
            )
        # Threads per batch: in Lambda one batch runs per environment at a time; where several run in one process
        # (the local stack), a batch's hanging requests still hold only its own threads.
        send_fairly(
            lanes,
            lambda key, planned: self._send_chunk(batch, key, *planned),
            concurrency=self._concurrency,
            per_destination=self._lanes_per_destination,
        )
        self._wait_for_records(batch)
        returned = self._hand_back(batch)  # first: the bookkeeping below must not delay any retry's schedule
        self._record_health(batch)
        self._count(batch)
        return returned

    def park(self, received: Sequence[ReceivedJob], *, deadline: float) -> set[str]:
        """Jobs the queue gave up on (returned untried maxReceiveCount times, or crashing the dispatcher): record
        them as `processing_failed` dead letters with the record's real send count, listed and replayable like
        every other failed delivery. Returns the message ids that could not be recorded (they stay on the DLQ)."""
        batch = self._batch(deadline)
        outcome = Outcome.permanent(
            "processing_failed", "Nimriz could not process this delivery repeatedly; replay it once the cause is fixed."
        )
        for entry in _first_copies(received):
            self._in_background(batch, self._record_unsent, batch, entry, SendResult(outcome, sent=False))
        self._wait_for_records(batch)
        for workspace_id, destination_id in {entry.destination for entry, _, _ in batch.recorded}:
            try:  # for the metrics' destination_type dimension; usually cached
                destination = self._configs.destination(workspace_id, destination_id)
            except Exception:
                logger.warning("could not read a parked job's destination type", exc_info=True)
                continue
            if destination is not None:
                batch.types[(workspace_id, destination_id)] = destination.type
        self._count(batch)
        return set(batch.returns)

    def _batch(self, deadline: float) -> _Batch:
        remaining = max(0.0, deadline - time.monotonic())
        return _Batch(deadline=deadline, lease_until=self._clock() + remaining + LEASE_MARGIN_SECONDS)

    # -- one chunk ------------------------------------------------------------------------------------------

    def _send_chunk(self, batch: _Batch, key: DestinationKey, plan: _Plan, chunk: list[ReceivedJob]) -> None:
        try:
            self._run_chunk(batch, key, plan, chunk)
        except Exception:  # a bug must not strand the batch: these jobs go back untried
            logger.exception("a delivery chunk failed unexpectedly", extra={"destination_id": key[1]})
            for entry in chunk:
                batch.give_back(entry, self._untried_delay(entry), unless_decided=True)

    def _run_chunk(self, batch: _Batch, key: DestinationKey, plan: _Plan, chunk: list[ReceivedJob]) -> None:
        if not self._fits(batch):
            for entry in chunk:
                batch.give_back(entry, 0)
            return
        decision = self._circuits.admit(key)
        if decision.admission is Admission.REFUSE:
            assert decision.retry_at is not None
            for entry in chunk:
                batch.give_back(entry, decision.retry_at - self._clock())
            return
        probe = decision.admission is Admission.PROBE
        observed = False
        try:
            leased: list[tuple[ReceivedJob, Lease]] = []
            for entry, lease in zip(chunk, self._lease_all(batch, chunk), strict=True):
                if lease is None:
                    continue
                if self._prior_attempts(lease) >= self._retry.max_attempts:  # its last attempt went unrecorded
                    self._in_background(batch, self._record, batch, entry, lease, SendResult(_UNRECORDED, sent=False))
                else:
                    leased.append((entry, lease))
            if not leased:
                return
            results = self._deliver_chunk(batch, plan, leased)
            try:
                observed = self._observe_circuit(key, list(results.values()), probe=probe)
            except Exception:  # bookkeeping after the sends: it may not keep their outcomes from being recorded
                logger.exception("could not observe the circuit", extra={"destination_id": key[1]})
        finally:
            if probe and not observed:  # the probe told nothing about the endpoint: another may probe
                self._circuits.cancel_probe(key)
        for entry, lease in leased:
            result = results[entry.message_id]
            if result.sent:
                batch.sent(entry, result)
            if result.sent or result.outcome.verdict is not Verdict.RETRY:
                self._in_background(batch, self._record, batch, entry, lease, result)
            else:  # not sent after all (no time left for its request): unattempted
                self._in_background(batch, self._release, batch, entry, lease.owner, 0.0)

    def _fits(self, batch: _Batch) -> bool:
        """Whether a request started now ends (at its total deadline) with time left to record."""
        return time.monotonic() + self._sender.deadline_seconds + RECORD_RESERVE_SECONDS <= batch.deadline

    def _observe_circuit(self, key: DestinationKey, results: list[SendResult], *, probe: bool) -> bool:
        """Tell the destination's circuit what the chunk's requests said of the endpoint; False if nothing."""
        answered = [r for r in results if r.sent and r.http_status is not None and r.http_status < 500]
        failed = [
            r for r in results if r.sent and (r.outcome.error_class in CIRCUIT_FAILURES or (r.http_status or 0) >= 500)
        ]
        if not answered and not failed:
            return False
        changed = self._circuits.observe(key, failed=not answered, probe=probe)
        if changed is None:
            return True
        logger.info("circuit " + changed.state, extra={"destination_id": key[1]})
        try:
            self._destinations.record_circuit(*key, changed)
        except Exception:  # this environment still applies it; others see it when one persists it
            logger.exception("could not persist the circuit", extra={"destination_id": key[1]})
        return True

    # -- leases and records --------------------------------------------------------------------------------

    def _lease_all(self, batch: _Batch, chunk: list[ReceivedJob]) -> list[Lease | None]:
        if len(chunk) == 1:
            return [self._lease(batch, chunk[0])]
        return list(self._bookkeeping.map(lambda entry: self._lease(batch, entry), chunk))

    def _lease(self, batch: _Batch, entry: ReceivedJob, *, honour_schedule: bool = True) -> Lease | None:
        """The lease for this copy of the job, or None after handling why not (acknowledged or given back)."""
        job = entry.job
        now, owner = self._clock(), uuid.uuid4().hex
        try:
            taken = self._log.lease(
                job.workspace_id,
                job.destination_id,
                job.delivery_id,
                owner=owner,
                now=now,
                until=batch.lease_until,
                honour_schedule=honour_schedule,
            )
        except Exception:
            logger.exception("could not lease a delivery", extra={"delivery_id": job.delivery_id})
            # The lease may have been taken with its answer lost: undo it, or the next copy would count a send.
            self._release(batch, entry, owner, self._untried_delay(entry))
            return None
        if isinstance(taken, Refused):
            if taken.reason is LeaseRefusal.LEASED:
                # The holder is usually done within one request; its lease end is only the bound.
                batch.give_back(entry, min((taken.until or now) - now, self._busy_delay()))
            elif taken.reason is LeaseRefusal.EARLY:
                batch.give_back(entry, (taken.until or now) - now)
            return None  # finished: acknowledged, never sent again
        return taken

    def _record_unsent(self, batch: _Batch, entry: ReceivedJob, result: SendResult) -> None:
        """Record an outcome decided without sending (skip, refusal, park): final, whatever the schedule."""
        lease = self._lease(batch, entry, honour_schedule=False)
        if lease is not None:
            self._record(batch, entry, lease, result)

    def _record(self, batch: _Batch, entry: ReceivedJob, lease: Lease, result: SendResult) -> None:
        write, retry_delay = self._settle(entry, lease, result)
        try:
            recorded = self._log.record(write, owner=lease.owner)
        except Exception:
            logger.exception("could not record a delivery", extra={"delivery_id": entry.job.delivery_id})
            if result.sent:
                # The lease stays until it expires; the next copy then counts this send as an unrecorded attempt.
                batch.give_back(entry, lease.until - self._clock())
            else:
                self._release(batch, entry, lease.owner, self._untried_delay(entry))
            return
        if recorded:
            batch.settled(entry, write.summary.status, result)
        if recorded and retry_delay is not None:
            batch.give_back(entry, retry_delay)
        # Recorded and final, or refused because another copy moved the delivery on: acknowledged.

    def _release(self, batch: _Batch, entry: ReceivedJob, owner: str, delay: float) -> None:
        job = entry.job
        try:
            self._log.release(job.workspace_id, job.destination_id, job.delivery_id, owner=owner)
        except Exception:  # it lapses at its end; the next copy then counts an attempt that was not sent
            logger.exception("could not release a delivery", extra={"delivery_id": job.delivery_id})
            delay = max(delay, batch.lease_until - self._clock())
        batch.give_back(entry, delay)

    def _in_background(self, batch: _Batch, work: Callable[..., None], *args: Any) -> None:
        future = self._bookkeeping.submit(work, *args)
        with batch.lock:
            batch.pending.append(future)

    def _wait_for_records(self, batch: _Batch) -> None:
        while True:
            with batch.lock:
                pending, batch.pending = batch.pending, []
            if not pending:
                return
            for future in pending:
                future.result()

    def _hand_back(self, batch: _Batch) -> set[str]:
        if batch.returns:
            self._return_to_queue(
                [
                    (receipt, min(SQS_MAX_VISIBILITY_SECONDS, max(0, math.ceil(delay))))
                    for receipt, delay in batch.returns.values()
                ]
            )
        return set(batch.returns)

    def _busy_delay(self) -> float:
        """When to look again at a delivery another copy is sending: after that copy's request and record."""
        return self._sender.deadline_seconds + RECORD_RESERVE_SECONDS

    def _untried_delay(self, entry: ReceivedJob) -> float:
        """Back-off for a job that could not even be tried: doubling per receive, at most the first retry delay."""
        return min(self._retry.base_seconds, 2.0 ** min(entry.receive_count, 16))

    @staticmethod
    def _prior_attempts(lease: Lease) -> int:
        return lease.sends + (1 if lease.unrecorded else 0)

    # -- one action's jobs ---------------------------------------------------------------------------------

    def _forget_destination(self, workspace_id: str, destination_id: str) -> None:
        """A deleted destination's cached configuration, credentials and provider authorization go now."""
        cached = self._configs.forget(workspace_id, destination_id)
        if cached is not None and cached.secret_arn and cached.secret_version:
            credentials = self._secrets.forget(SecretRef(cached.secret_arn, cached.secret_version))
            if credentials is not None:
                get_provider(cached.type).forget_authorization(credentials)

    def _plan(
        self, workspace_id: str, destination_id: str, action_id: str, entries: list[ReceivedJob], *, version: int
    ) -> _Plan | Outcome:
        """What sending this action's jobs needs (cached config, credentials, mapping), or why nothing is sent."""
        destination = self._configs.destination(workspace_id, destination_id, at_least_version=version)
        action = destination.action(action_id) if destination else None
        refusal = _refusal(destination, action, testing=all(e.job.reason == "test" for e in entries))
        if refusal is not None:
            return refusal
        assert destination is not None and action is not None
        credentials: dict[str, Any] = {}
        if destination.secret_arn and destination.secret_version:
            credentials = self._secrets.read(SecretRef(destination.secret_arn, destination.secret_version))
        mapping = self._compiled.mapping(destination, action)
        return _Plan(get_provider(destination.type), destination, credentials, mapping)

    def _deliver_chunk(
        self, batch: _Batch, plan: _Plan, leased: list[tuple[ReceivedJob, Lease]]
    ) -> dict[str, SendResult]:
        results: dict[str, SendResult] = {}
        sendable = []
        for entry, lease in leased:
            if is_notice(entry.job.event) and not plan.provider.receives_notices:
                results[entry.message_id] = SendResult(_NOT_APPLICABLE, sent=False)
            else:
                sendable.append((entry, lease))
        if not sendable:
            return results
        try:
            prepared = []
            for entry, lease in sendable:
                attempt = self._prior_attempts(lease) + 1
                try:
                    item = delivery_item(
                        plan.provider,
                        plan.mapping,
                        entry.job.event,
                        delivery_id=entry.job.delivery_id,
                        reason=_attempt_reason(entry.job, attempt),
                        attempt=attempt,
                    )
                except MappedEventTooLarge as too_large:  # dead-lettered unsent: no request, so no attempt
                    results[entry.message_id] = SendResult(too_large.outcome, sent=False)
                    continue
                prepared.append((entry, item))
            if not prepared:
                return results
            by_position = self._group_sender.send(
                plan.provider, plan.credentials, [item for _, item in prepared], may_start=lambda: self._fits(batch)
            )
        except Exception as exc:
            # A bug must not lose events: retry, then dead-letter. GroupSender.send raises only before the group's
            # first request, so no item that went out is sent again because of it.
            logger.exception("delivery failed unexpectedly", extra={"destination_type": plan.destination_type})
            outcome = replace(UNEXPECTED, error_class=exc.code.lower()) if isinstance(exc, DomainError) else UNEXPECTED
            # What was decided before the failure (a mapped event too large to send) stands.
            return {entry.message_id: SendResult(outcome) for entry, _ in sendable} | results
        self._note_credentials_expiry(plan)  # after the sends: what it does cannot change their outcomes
        return {**results, **{entry.message_id: by_position[position] for position, (entry, _) in enumerate(prepared)}}

    def _note_credentials_expiry(self, plan: _Plan) -> None:
        """Record when the destination's credentials expire, once `authorize` learned it and it changed."""
        destination = plan.destination
        try:
            expiry = plan.provider.credential_expiry(plan.credentials)
            if expiry is None or not destination.secret_version:
                return
            expires_at = iso_utc(expiry)
            if expires_at == destination.credentials_expire_at:
                return
            self._destinations.record_credentials_expiry(
                destination.workspace_id,
                destination.id,
                secret_version=destination.secret_version,
                expires_at=expires_at,
            )
        except Exception:  # bookkeeping only: it may not fail deliveries already sent
            logger.warning("could not record the credentials' expiry", exc_info=True)
            return
        destination.credentials_expire_at = expires_at  # the cached config: no second write for the same expiry

    # -- recording -----------------------------------------------------------------------------------------

    def _settle(self, entry: ReceivedJob, lease: Lease, result: SendResult) -> tuple[DeliveryWrite, float | None]:
        """The record of this outcome, and the retry delay when the delivery is to be tried again."""
        job, now, outcome = entry.job, self._clock(), result.outcome
        attempts: list[AttemptRecord] = []
        if lease.unrecorded:
            unrecorded = lease.sends + 1
            attempts.append(
                AttemptRecord(
                    delivery_id=job.delivery_id,
                    attempt=unrecorded,
                    reason=_attempt_reason(job, unrecorded),
                    outcome=Verdict.RETRY.value,
                    http_status=None,
                    duration_ms=None,
                    error_class=_UNRECORDED.error_class,
                    message=_UNRECORDED.message,
                    response_excerpt=None,
                    request=None,
                    attempted_at=iso_from_unix(now),
                )
            )
        sends = self._prior_attempts(lease) + (1 if result.sent else 0)
        retrying = outcome.verdict is Verdict.RETRY and self._retry.should_retry(sends)
        delay = self._retry.delay_after(sends, outcome.retry_after) if retrying else None
        next_attempt_at = now + delay if delay is not None else None
        status = _status(outcome.verdict, retrying)
        message = outcome.message
        if outcome.verdict is Verdict.RETRY and not retrying:
            message = f"gave up after {sends} attempts: {message or outcome.error_class}"
        if result.sent:
            attempts.append(
                AttemptRecord(
                    delivery_id=job.delivery_id,
                    attempt=sends,
                    reason=_attempt_reason(job, sends),
                    outcome=outcome.verdict.value,
                    http_status=result.http_status,
                    duration_ms=result.duration_ms,
                    error_class=outcome.error_class,
                    message=message,
                    response_excerpt=result.response_excerpt,
                    request=result.request,
                    attempted_at=iso_from_unix(now),
                    next_attempt_at=iso_from_unix(next_attempt_at) if next_attempt_at is not None else None,
                )
            )
        summary = DeliverySummary(
            delivery_id=job.delivery_id,
            destination_id=job.destination_id,
            action_id=job.action_id,
            event_id=str(job.event.get("id")),
            event_type=str(job.event.get("type")),
            reason=job.reason,
            status=status,
            attempts=sends,
            last_http_status=result.http_status,
            last_error_class=outcome.error_class,
            last_message=message,
            created_at=job.queued_at,
            updated_at=iso_from_unix(now),
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
                attempts=sends,
                dead_lettered_at=iso_from_unix(now),
                job=job.model_dump(mode="json"),
            )
        write = DeliveryWrite(
            workspace_id=job.workspace_id,
            summary=summary,
            attempts=attempts,
            sends_before=lease.sends,
            next_attempt_at=next_attempt_at,
            dead_letter=dead_letter,
        )
        return write, delay

    def _record_health(self, batch: _Batch) -> None:
        """Per destination, from what was sent in this batch (skips say nothing about a destination's health)."""
        sent: defaultdict[DestinationKey, list[SentOutcome]] = defaultdict(list)
        for (workspace_id, destination_id, action_id), results in batch.outcomes.items():
            sent[(workspace_id, destination_id)] += [
                SentOutcome(
                    action_id,
                    delivered=result.outcome.verdict is Verdict.DELIVERED,
                    error_class=result.outcome.error_class,
                    http_status=result.http_status,
                )
                for result in results
                if result.outcome.verdict is not Verdict.SKIPPED
            ]
        now = self._clock()
        updates = [
            self._bookkeeping.submit(self._health.record, *key, outcomes, now=now, at=iso_from_unix(now))
            for key, outcomes in sent.items()
            if outcomes
        ]
        for update in updates:
            try:
                update.result()
            except Exception:  # health is informational: the deliveries themselves are recorded
                logger.exception("could not record destination health")

    def _count(self, batch: _Batch) -> None:
        """The batch's recorded outcomes as customer counters (one update per action) and EMF metrics per type."""
        counts: defaultdict[CounterKey, Counts] = defaultdict(Counts)
        tallies: defaultdict[str, DeliveryTally] = defaultdict(DeliveryTally)
        for entry, status, result in batch.recorded:
            action = counts[(*entry.destination, entry.job.action_id)]
            failed = result.sent and result.outcome.verdict in (Verdict.RETRY, Verdict.PERMANENT)
            action.failed += failed
            if status == "delivered":
                action.delivered += 1
            elif status == "retrying":
                action.retrying += 1
            elif status == "dead_lettered":
                action.dead_lettered += 1
            else:
                action.skipped += 1
            if result.sent and result.duration_ms is not None:
                action.observe_latency(result.duration_ms)
            destination_type = batch.types.get(entry.destination)
            if destination_type is not None:
                latency = result.duration_ms if result.sent else None
                tallies[destination_type].add(status, failed=failed, latency_ms=latency)
        now = self._clock()
        writes = [self._bookkeeping.submit(self._counters.add, key, added, at=now) for key, added in counts.items()]
        for write in writes:
            try:
                write.result()
            except Exception:  # counters are informational: the deliveries themselves are recorded
                logger.exception("could not add to the delivery counters")
        emit_delivery_metrics(tallies)


_UNRECORDED = Outcome.retry(
    "unrecorded", "This attempt was made but its outcome could not be recorded; it may have reached the destination."
)


def _first_copies(received: Sequence[ReceivedJob]) -> list[ReceivedJob]:
    """One job per delivery id: a second copy in the same batch is acknowledged, the first carries it on."""
    seen: dict[str, ReceivedJob] = {}
    for entry in received:
        seen.setdefault(entry.job.delivery_id, entry)
    return list(seen.values())


def _refusal(destination: DestinationRecord | None, action: ActionRecord | None, *, testing: bool) -> Outcome | None:
    """Why a group of jobs is not sent at all (a test send may target a disabled action: users test first)."""
    if destination is None:
        return _DELETED
    if action is None:
        return Outcome.skipped("action_deleted", "The action no longer exists on this destination.")
    if not get_provider(destination.type).delivers:
        return Outcome.skipped("nothing_to_deliver", "This action type delivers nothing server-side.")
    if not testing and not destination.enabled:
        return Outcome.skipped("destination_disabled", "The destination is disabled.")
    if not testing and not action.enabled:
        return Outcome.skipped("action_disabled", "The action is disabled.")
    return None


def _attempt_reason(job: DeliveryJob, attempt: int) -> str:
    """X-Nim-Delivery-Reason of this attempt: test stays test; a later attempt of live/replay is a retry."""
    if job.reason == "test" or attempt == 1:
        return job.reason
    return "retry"


def _status(verdict: Verdict, retrying: bool) -> str:
    if verdict is Verdict.DELIVERED:
        return "delivered"
    if verdict is Verdict.SKIPPED:
        return "skipped"
    return "retrying" if retrying else "dead_lettered"
