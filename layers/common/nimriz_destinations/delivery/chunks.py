"""One chunk of an action's jobs (up to the provider's batch size) in its lane: admitted by the destination's
circuit and by the invocation's remaining time, claimed (leased where a first attempt cannot go unclaimed), paced to
its delivery-rate tokens when its destination has a rate (design §8.11), prepared (privacy, mapping, size), sent as
one group, and each job's outcome recorded in the background."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..clock import iso_utc
from ..errors import DomainError
from ..notices import is_notice
from ..observability import logger
from ..providers.base import Outcome, Verdict
from ..rates import SLOT_GRACE_SECONDS
from ..storage.destinations import DestinationStore
from .circuit import Admission, CircuitBreakers, DestinationKey
from .claims import Claim, Claims, Ticket
from .group_sender import UNEXPECTED, GroupSender
from .invocation import Invocation
from .outcomes import NOT_APPLICABLE, attempt_reason, settle
from .planning import Plan
from .prepare import MappedEventTooLarge, delivery_item
from .retry import RetryPolicy
from .send_result import SendResult

# Kept free at the end of an invocation for recording outcomes and setting visibilities.
RECORD_RESERVE_SECONDS = 5.0
# Failures that say the endpoint is not working (with any HTTP status >= 500): they count towards its circuit.
CIRCUIT_FAILURES = frozenset({"timeout", "network_error"})


class Chunks:
    def __init__(
        self,
        *,
        claims: Claims,
        circuits: CircuitBreakers,
        destinations: DestinationStore,
        group_sender: GroupSender,
        retry: RetryPolicy,
        request_seconds: float,
        bookkeeping: ThreadPoolExecutor,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._claims = claims
        self._circuits = circuits
        self._destinations = destinations
        self._group_sender = group_sender
        self._retry = retry
        self._request_seconds = request_seconds  # the most one request can take (the sender's total deadline)
        self._bookkeeping = bookkeeping
        self._sleep = sleep

    @property
    def reserve_seconds(self) -> float:
        """What a chunk needs of the invocation's time besides waiting: its request and recording its outcome."""
        return self._request_seconds + RECORD_RESERVE_SECONDS

    def fits(self, invocation: Invocation) -> bool:
        """Whether a request started now ends (at its total deadline) with time left to record."""
        return invocation.time_left() >= self.reserve_seconds

    def run(self, invocation: Invocation, key: DestinationKey, plan: Plan, tickets: list[Ticket]) -> bool:
        """Send and record the chunk; returns whether the destination delivered any of it (the lanes give a
        destination more threads only as it proves it answers)."""
        try:
            return self._run(invocation, key, plan, tickets)
        except Exception:  # a bug must not strand the batch: these jobs go back untried, their leases released
            logger.exception("a delivery chunk failed unexpectedly", extra={"destination_id": key[1]})
            for ticket in tickets:
                self._claims.release(invocation, ticket, self._claims.untried_delay(ticket.entry))
            return False

    def record_outcome(self, invocation: Invocation, ticket: Ticket, result: SendResult) -> None:
        """Settle `result` and write it in the background (the job goes back if the invocation ends first)."""
        settled = settle(ticket.entry.job, ticket.state, result, self._retry, now=self._claims.now())
        unfinished = (
            settled.retry_delay if settled.retry_delay is not None else self._claims.untried_delay(ticket.entry)
        )
        invocation.in_background(
            self._bookkeeping, ticket.entry, unfinished,
            self._claims.record, invocation, ticket, settled.write, result, settled.retry_delay,
        )  # fmt: skip

    def _run(self, invocation: Invocation, key: DestinationKey, plan: Plan, tickets: list[Ticket]) -> bool:
        tickets = self._in_turn(invocation, tickets)
        if not tickets:
            return False
        if not self.fits(invocation):
            for ticket in tickets:
                invocation.give_back(ticket.entry, 0)
            return False
        decision = self._circuits.admit(key)
        if decision.admission is Admission.REFUSE:
            assert decision.retry_at is not None
            for ticket in tickets:
                invocation.give_back(ticket.entry, decision.retry_at - self._claims.now())
            return False
        probe = decision.admission is Admission.PROBE
        observed = False
        try:
            claimed = self._in_turn(invocation, self._claimed(invocation, tickets))
            if not claimed:
                return False
            may_start = self._paced(invocation, claimed)
            if may_start is None:
                return False
            results = self._deliver(invocation, plan, claimed, may_start)
            try:
                observed = self._observe_circuit(key, list(results.values()), probe=probe)
            except Exception:  # bookkeeping after the sends: it may not keep their outcomes from being recorded
                logger.exception("could not observe the circuit", extra={"destination_id": key[1]})
        finally:
            if probe and not observed:  # the probe told nothing about the endpoint: another may probe
                self._circuits.cancel_probe(key)
        for ticket in claimed:
            result = results[ticket.entry.message_id]
            if not result.started:  # no time was left for its request: untried, uncounted
                self._claims.release(invocation, ticket, 0)
                continue
            if result.sent:
                invocation.sent(ticket.entry, result)
            self.record_outcome(invocation, ticket, result)
        return any(result.outcome.verdict is Verdict.DELIVERED for result in results.values())

    def _in_turn(self, invocation: Invocation, tickets: list[Ticket]) -> list[Ticket]:
        """The tickets that may go out now: a FIFO job of a destination one of whose earlier jobs went back untried
        goes back too, untried (its lease released), so none goes out before that one (design §2.2, "Order")."""
        going = []
        for ticket in tickets:
            if invocation.blocked(ticket.entry):
                self._claims.release(invocation, ticket, 0)
            else:
                going.append(ticket)
        return going

    def _claimed(self, invocation: Invocation, tickets: list[Ticket]) -> list[Ticket]:
        """The tickets that may send now: unclaimed first attempts, and the others once leased."""
        leasing = [ticket for ticket in tickets if ticket.claim is Claim.LEASE]
        if len(leasing) > 1:
            leased = list(self._bookkeeping.map(lambda ticket: self._claims.lease(invocation, ticket), leasing))
        else:
            leased = [self._claims.lease(invocation, ticket) for ticket in leasing]
        refused = {id(ticket) for ticket, taken in zip(leasing, leased, strict=True) if not taken}
        claimed = []
        for ticket in tickets:
            if id(ticket) in refused:
                continue
            if ticket.state.counted >= self._retry.max_attempts:  # its last attempt went unrecorded: none is left
                self.record_outcome(invocation, ticket, SendResult(_exhausted(ticket.state.sends), sent=False))
                continue
            claimed.append(ticket)
        return claimed

    def _paced(self, invocation: Invocation, tickets: list[Ticket]) -> Callable[[], bool] | None:
        """What the chunk's requests ask before starting: time left, and with delivery-rate tokens (design §8.11),
        after waiting for the last of them, that it is still within SLOT_GRACE_SECONDS of its time (a request of
        several events goes at its last event's token: never early). None after giving the jobs back: the tokens
        lapsed while the chunk waited for a thread or its lease (sent late, they would bunch with later tokens)."""
        times = [ticket.send_at for ticket in tickets if ticket.send_at is not None]
        if not times:
            return lambda: self.fits(invocation)
        send_at = max(times)
        wait = send_at - self._claims.now()
        if wait > 0:
            self._sleep(wait)
        if self._claims.now() > send_at + SLOT_GRACE_SECONDS or not self.fits(invocation):
            for ticket in tickets:
                self._claims.release(invocation, ticket, 0)
            return None
        return lambda: self.fits(invocation) and self._claims.now() <= send_at + SLOT_GRACE_SECONDS

    def _deliver(
        self, invocation: Invocation, plan: Plan, tickets: list[Ticket], may_start: Callable[[], bool]
    ) -> dict[str, SendResult]:
        results: dict[str, SendResult] = {}
        prepared = []
        for ticket in tickets:
            job = ticket.entry.job
            if is_notice(job.event) and not plan.provider.receives_notices:
                results[ticket.entry.message_id] = SendResult(NOT_APPLICABLE, sent=False)
                continue
            attempt = ticket.state.sends + 1
            try:
                item = delivery_item(plan.provider, plan.mapping, job.event, delivery_id=job.delivery_id,
                                     reason=attempt_reason(job, attempt), attempt=attempt)  # fmt: skip
            except MappedEventTooLarge as too_large:  # dead-lettered unsent: no request, so no attempt
                results[ticket.entry.message_id] = SendResult(too_large.outcome, sent=False)
                continue
            except Exception:  # a mapping bug: failed before the wire, tried again (a fixed mapping may send it)
                logger.exception("mapping failed unexpectedly", extra={"destination_type": plan.destination_type})
                results[ticket.entry.message_id] = SendResult(_MAPPING_FAILED, sent=False)
                continue
            prepared.append((ticket, item))
        if not prepared:
            return results
        try:
            by_position = self._group_sender.send(
                plan.provider, plan.credentials, [item for _, item in prepared], may_start=may_start
            )
        except Exception as exc:
            # GroupSender.send raises only before the group's first request: nothing went out.
            logger.exception("delivery failed unexpectedly", extra={"destination_type": plan.destination_type})
            outcome = replace(UNEXPECTED, error_class=exc.code.lower()) if isinstance(exc, DomainError) else UNEXPECTED
            return results | {ticket.entry.message_id: SendResult(outcome, sent=False) for ticket, _ in prepared}
        self._note_credentials_expiry(plan)  # after the sends: what it does cannot change their outcomes
        return results | {ticket.entry.message_id: by_position[index] for index, (ticket, _) in enumerate(prepared)}

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

    def _note_credentials_expiry(self, plan: Plan) -> None:
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


_MAPPING_FAILED = Outcome.retry("mapping_failed", "The action's mapping could not be applied; it will be tried again.")


def _exhausted(sends: int) -> Outcome:
    return Outcome.permanent(
        "unrecorded", f"gave up after {sends} attempts: the last one was made but its outcome could not be recorded"
    )
