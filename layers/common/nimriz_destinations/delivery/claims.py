"""Each job's claim on its delivery during one invocation, and the writes that record what became of it (design §2,
"A delivery's life"): read with the batch, then held, leased or sent unclaimed, then recorded, released or marked
unrecorded. Every write here is safe to repeat after a lost answer (storage/delivery_states.py), and none is left
to lapse: a job that cannot be settled goes back to the queue, explicitly, with the delay its case needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from aws_lambda_powertools.metrics import MetricUnit

from ..jobs import ReceivedJob
from ..observability import logger, metrics
from ..providers.common import epoch_millis
from ..storage.deliveries import THROTTLED as WAITING_FOR_RATE
from ..storage.delivery_items import DeliveryState
from ..storage.delivery_states import DeliveryKey, DeliveryStates, DeliveryWrite, Held, new_token
from .invocation import Invocation
from .outcomes import held
from .retry import RetryPolicy
from .send_result import SendResult

# Calls per record, release or mark before giving up (each with botocore's own retries), while time is left.
RECORD_CALLS = 5


class Claim(Enum):
    UNCLAIMED = "unclaimed"  # a first attempt of a job queued once: sent, then recorded by one conditional write
    HOLD = "hold"  # a first attempt of a job queued again: its twins are waited out before anyone leases it
    LEASE = "lease"  # every other attempt: leased, sent, recorded


@dataclass(slots=True)
class Ticket:
    entry: ReceivedJob
    state: DeliveryState  # as read with the batch, then as this invocation's own writes left it
    token: str = field(default_factory=new_token)
    leased: bool = False
    send_at: float | None = None  # epoch seconds: its delivery-rate token's time, not sent before it (design §8.11)

    @property
    def key(self) -> DeliveryKey:
        job = self.entry.job
        return job.workspace_id, job.destination_id, job.delivery_id

    @property
    def claim(self) -> Claim:
        if self.state.rev == 0 and self.entry.job.queued == "once":
            return Claim.UNCLAIMED
        if self.state.rev == 0 and self.entry.job.queued == "again" and self.state.hold_until is None:
            return Claim.HOLD
        return Claim.LEASE


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float
    # The record's own schedule (its next attempt after a failed one), not another copy's claim or our delivery rate
    # (design §8.11): a released delivery waiting for it leaves the FIFO queue (design §2.2, "Order").
    on_schedule: bool = False


DONE = "done"


class Claims:
    def __init__(
        self, states: DeliveryStates, retry: RetryPolicy, *, busy_seconds: float, clock: Callable[[], float]
    ) -> None:
        self._states = states
        self._retry = retry
        self._busy_seconds = busy_seconds  # how long another copy's request and record take at most
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def read(self, entries: Sequence[ReceivedJob]) -> list[Ticket]:
        """One ticket per job, from one consistent read of the batch's delivery records."""
        found = self._states.read([(e.job.workspace_id, e.job.destination_id, e.job.delivery_id) for e in entries])
        return [Ticket(entry, found.get(entry.job.delivery_id, DeliveryState())) for entry in entries]

    def standing(self, state: DeliveryState, *, honour_schedule: bool = True) -> Wait | str | None:
        """DONE (finished: acknowledge), a Wait (another copy holds it, or its time has not come), or None: go on."""
        now = self._clock()
        if state.finished:
            return DONE
        if state.lease_until is not None and state.lease_until > now:
            # The holder is usually done within one request; its lease end is only the bound.
            return Wait(min(state.lease_until - now, self._busy_seconds))
        if state.hold_until is not None and state.hold_until > now:
            return Wait(state.hold_until - now)
        if honour_schedule and state.next_attempt_at is not None and state.next_attempt_at > now:
            return Wait(state.next_attempt_at - now, on_schedule=state.status != WAITING_FOR_RATE)
        return None

    def untried_delay(self, entry: ReceivedJob) -> float:
        """Back-off for a job that could not even be tried: doubling per receive, at most the first retry delay."""
        return min(self._retry.base_seconds, 2.0 ** min(entry.receive_count, 16))

    def follow(self, invocation: Invocation, ticket: Ticket, state: DeliveryState) -> None:
        """Act on a record another copy left: acknowledged when finished, else back when it allows."""
        standing = self.standing(state)
        if standing == DONE:
            invocation.acknowledge(ticket.entry)
        elif isinstance(standing, Wait):
            invocation.give_back(ticket.entry, standing.seconds, on_schedule=standing.on_schedule)
        else:
            invocation.give_back(ticket.entry, 1.0)

    def hold(self, invocation: Invocation, ticket: Ticket) -> None:
        """Wait out any twin sending unclaimed: no copy sends before the hold ends, and then only under a lease."""
        try:
            found = self._states.hold(ticket.key, until=invocation.lease_until)
        except Exception:
            logger.exception("could not hold a delivery", extra={"delivery_id": ticket.entry.job.delivery_id})
            invocation.give_back(ticket.entry, self.untried_delay(ticket.entry))
            return
        if found is None:
            invocation.give_back(ticket.entry, invocation.lease_until - self._clock())
        else:
            self.follow(invocation, ticket, found)

    def keep_held(self, invocation: Invocation, ticket: Ticket) -> None:
        """Keep the delivery of a paused destination as `held` (design §2.2): acknowledged once held; sent as usual
        when the destination was resumed meanwhile."""
        job = ticket.entry.job
        now = self._clock()
        try:
            found = self._states.hold_paused(
                held(job, ticket.state, now=now), seen=ticket.state, token=ticket.token,
                occurred_millis=epoch_millis(job.event), now=now,
            )  # fmt: skip
        except Exception:
            logger.exception(
                "could not hold a delivery of a paused destination", extra={"delivery_id": job.delivery_id}
            )
            invocation.give_back(ticket.entry, self.untried_delay(ticket.entry))
            return
        if found is Held.RESUMED:
            invocation.give_back(ticket.entry, 0)
        elif found is not Held.HELD:
            self.follow(invocation, ticket, found)

    def lease(self, invocation: Invocation, ticket: Ticket) -> bool:
        """Take the delivery for this copy; False after handling why not (acknowledged or given back)."""
        job = ticket.entry.job
        try:
            found = self._states.lease(ticket.key, seen=ticket.state, token=ticket.token, until=invocation.lease_until)
        except Exception:
            logger.exception("could not lease a delivery", extra={"delivery_id": job.delivery_id})
            # Every try may have taken it with its answer lost: undo that, or the delivery waits for its end.
            ticket.leased = True
            ticket.state = self._ours(ticket, lease_until=invocation.lease_until)
            self.release(invocation, ticket, self.untried_delay(ticket.entry))
            return False
        if found is not None:
            self.follow(invocation, ticket, found)
            return False
        ticket.leased = True
        ticket.state = self._ours(ticket, lease_until=invocation.lease_until)
        return True

    def release(self, invocation: Invocation, ticket: Ticket, delay: float) -> None:
        """Give the lease back unused, and the job to the queue after `delay`. Should that fail, the job comes back
        when the lease ends instead: nothing was sent, so nothing is counted either way."""
        released = not ticket.leased or self._repeat(
            invocation, "release", lambda: self._states.release(ticket.key, rev=ticket.state.rev, token=ticket.token)
        )
        if not released:
            delay = max(delay, invocation.lease_until - self._clock())
        invocation.give_back(ticket.entry, delay)

    def record(
        self,
        invocation: Invocation,
        ticket: Ticket,
        write: DeliveryWrite,
        result: SendResult,
        retry_delay: float | None,
    ) -> None:
        """Write the outcome (in the background). Settled: acknowledged, or back when its retry is due. Refused (another
        copy moved the delivery on meanwhile): a send of ours is counted on its record. Not written at all: a send
        is marked unrecorded, and the job goes back either way."""
        entry, seen, token = ticket.entry, ticket.state, ticket.token
        found: list[DeliveryState | None] = []
        if self._repeat(invocation, "record", lambda: found.append(self._states.record(write, seen=seen, token=token))):
            refused = found[-1]
            if refused is None:
                invocation.settled(entry, write.summary.status, result)
                if retry_delay is not None:  # waiting for our own delivery rate is no attempt: not a retry's schedule
                    invocation.give_back(entry, retry_delay, on_schedule=write.summary.status != WAITING_FOR_RATE)
                return
            if result.sent:
                logger.warning("another copy of a delivery recorded first: this send was a duplicate",
                               extra={"delivery_id": entry.job.delivery_id})  # fmt: skip
                metrics.add_metric(name="DuplicateSends", unit=MetricUnit.Count, value=1)
                if not refused.finished:
                    self._mark_unrecorded(invocation, dataclasses.replace(ticket, state=refused), result, retry_delay)
                    return
            self.follow(invocation, ticket, refused)
            return
        if result.sent:
            self._mark_unrecorded(invocation, ticket, result, retry_delay)
        else:
            self.release(invocation, ticket, self.untried_delay(entry))

    def _mark_unrecorded(
        self, invocation: Invocation, ticket: Ticket, result: SendResult, retry_delay: float | None
    ) -> None:
        """Our requests went out and their outcome is not on the record: mark them, so the next record counts them."""
        marked = self._repeat(invocation, "mark unrecorded", lambda: self._states.mark_unrecorded(
            ticket.key, rev=ticket.state.rev, token=ticket.token, sends=result.requests
        ))  # fmt: skip
        if not marked:
            logger.error("a send could not be recorded nor marked: the next copy will not count it",
                         extra={"delivery_id": ticket.entry.job.delivery_id})  # fmt: skip
        if retry_delay is None:
            retry_delay = self._retry.delay_after(ticket.state.sends + result.requests)
        invocation.give_back(ticket.entry, retry_delay, on_schedule=True)

    def _repeat(self, invocation: Invocation, what: str, call: Callable[[], object]) -> bool:
        """`call` up to RECORD_CALLS times until it returns, each only while the invocation lasts; False if it never
        did. Every call here is a write that is safe to repeat."""
        for _ in range(RECORD_CALLS):
            if invocation.closed or invocation.time_left() <= 0:
                break
            try:
                call()
                return True
            except Exception:
                logger.warning(f"could not {what} a delivery; trying again", exc_info=True)
        return False

    def _ours(self, ticket: Ticket, *, lease_until: float) -> DeliveryState:
        state = ticket.state
        return dataclasses.replace(state, rev=state.rev + 1, writer=ticket.token, lease_until=lease_until)
