"""The dispatcher: delivery jobs in, provider requests out, every attempt recorded (design §2, "A delivery's life").

Per batch (one Lambda invocation, planned against its remaining time):
1. One strongly consistent BatchGetItem of the batch's destination items (version + circuit) and one of its jobs'
   delivery records (`claims.py`): a finished delivery is acknowledged; one another copy holds, or scheduled
   later, goes back to the queue for that long; a first attempt of a job queued again is held first.
2. Per action, the configuration, credentials and mapping come from bounded caches (`planning.py`): jobs of a deleted
   destination are skipped `destination_deleted`, a newer version is reloaded before sending, and the persisted
   circuit is adopted; a failure there returns that action's jobs to the queue untried, the rest goes on.
3. Chunks (the provider's batch size) run in lanes (`lanes.py`), each admitted by the time left and the circuit,
   claimed, prepared, sent and recorded (`chunks.py`, `outcomes.py`); released deliveries and the jobs of the
   released deliveries' FIFO queue one after another, in their destination's order (`ordering.py`).
4. Once every record is written or the time is up, the jobs going back are handed back with their delays, each to
   its queue (a FIFO job on its retry's schedule to the Deliveries queue instead: `hand_back.py`); then the batch's
   health, counters and metrics (`tallies.py`).
Every message not acknowledged is returned to the queue with the delay its case needs (`dispatch` reports it as
failed), so a failure in any step for one job or destination affects that job or destination only.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..jobs import ReceivedJob
from ..observability import logger
from ..providers.base import Outcome
from ..storage.delivery_states import DeliveryStates
from ..storage.destinations import DestinationState, DestinationStore
from ..storage.rate_buckets import RateBuckets
from .chunks import RECORD_RESERVE_SECONDS, Chunks
from .circuit import CircuitBreakers, DestinationKey
from .claims import DONE, Claim, Claims, Ticket, Wait
from .group_sender import GroupSender
from .hand_back import HandBack, ReturnToQueue, SendLater
from .invocation import RETURN_MARGIN_SECONDS, Invocation
from .lanes import send_fairly
from .metering import Metering
from .ordering import Chunks as ChunkSequence
from .ordering import in_occurred_order, in_order, keeps_order, parallel_entries
from .outcomes import ABANDONED, DELETED, HOLD_EXPIRED
from .planning import Plan, Planner
from .rate_limiter import RateLimiter
from .retry import RetryPolicy
from .send_result import SendResult
from .sender import HttpSender
from .tallies import Tallies

# Threads for leases, records and health updates (DynamoDB calls), apart from the lanes that send.
BOOKKEEPING_THREADS = 16
# Threads sending a batch's chunks: a dispatcher's Lambda time is mostly its requests waiting for their answers
# (docs/cost.md), and a provider answering in 100 ms takes a batch of 50 single-event requests in 0.4 s on 16.
SENDING_THREADS = 16
# A destination's threads until it delivers (lanes.py): what an endpoint that hangs or fails can hold.
FIRST_LANES = 2


class Dispatcher:
    def __init__(
        self,
        *,
        planner: Planner,
        states: DeliveryStates,
        destinations: DestinationStore,
        tallies: Tallies,
        sender: HttpSender,
        retry: RetryPolicy,
        circuits: CircuitBreakers,
        return_to_queue: ReturnToQueue,
        send_later: SendLater,
        bookkeeping: ThreadPoolExecutor,
        hold_max_seconds: float,
        rate_buckets: RateBuckets,
        clock: Callable[[], float] = time.time,
        concurrency: int = SENDING_THREADS,
    ) -> None:
        self._planner = planner
        self._hold_max_seconds = hold_max_seconds
        self._destinations = destinations
        self._tallies = tallies
        self._circuits = circuits
        self._hand_back = HandBack(return_to_queue, send_later)
        self._clock = clock
        self._concurrency = concurrency
        self._claims = Claims(states, retry, busy_seconds=sender.deadline_seconds + RECORD_RESERVE_SECONDS, clock=clock)
        self._chunks = Chunks(
            claims=self._claims,
            circuits=circuits,
            destinations=destinations,
            group_sender=GroupSender(sender, clock=clock),
            retry=retry,
            request_seconds=sender.deadline_seconds,
            bookkeeping=bookkeeping,
        )
        self._bookkeeping = bookkeeping
        self._metering = Metering(RateLimiter(rate_buckets, clock=clock), self._chunks, self._hand_back)

    def dispatch(self, received: Sequence[ReceivedJob], *, deadline: float) -> set[str]:
        """Deliver a batch before `deadline` (time.monotonic()); returns the message ids to report as failed:
        each is back on the queue with its visibility set to when it should be tried again."""
        entries = _first_copies(received)
        invocation = Invocation.starting(deadline, self._clock, entries)
        try:
            states = invocation.states = self._destinations.states(sorted({entry.destination for entry in entries}))
            tickets = self._claims.read(entries)
        except Exception:
            logger.exception("could not read the batch's destinations and deliveries; its jobs go back untried")
            for entry in entries:
                invocation.give_back(entry, self._claims.untried_delay(entry))
            return self._hand_back.close(invocation, entries)

        groups: defaultdict[tuple[str, str, str], list[Ticket]] = defaultdict(list)
        for ticket in tickets:
            if self._paused_or_expired(invocation, ticket, states.get(ticket.entry.destination)):
                continue
            if self._goes_on(invocation, ticket, honour_schedule=not _recovered_now(ticket)):
                groups[(*ticket.entry.destination, ticket.entry.job.action_id)].append(ticket)
        # Per destination, its lane entries: the chunks of one are sent one after another (its jobs in order, oldest
        # event first: ordering.py), the entries in parallel (lanes.py).
        lanes: defaultdict[DestinationKey, list[ChunkSequence]] = defaultdict(list)
        # Per destination, its jobs sent in order, and its others by action; a rate-limited destination's tokens are
        # taken once for all of them (design §8.11).
        ordered: defaultdict[DestinationKey, list[tuple[Plan, Ticket]]] = defaultdict(list)
        others: defaultdict[DestinationKey, list[tuple[Plan, list[Ticket]]]] = defaultdict(list)
        for (workspace_id, destination_id, action_id), group in groups.items():
            state = states.get((workspace_id, destination_id))
            if state is None:
                self._planner.forget(workspace_id, destination_id)
                self._record_unsent(invocation, group, DELETED)
                continue
            self._circuits.adopt((workspace_id, destination_id), state.circuit)
            plan = self._plan(invocation, workspace_id, destination_id, action_id, group, version=state.version)
            if isinstance(plan, Outcome):
                self._record_unsent(invocation, group, plan)
            elif plan is not None:
                invocation.types[(workspace_id, destination_id)] = plan.destination_type
                ordered[(workspace_id, destination_id)] += [(plan, t) for t in group if keeps_order(t)]
                others[(workspace_id, destination_id)].append((plan, [t for t in group if not keeps_order(t)]))
        for key in dict.fromkeys([*ordered, *others]):
            in_turn, parallel = sorted(ordered[key], key=in_occurred_order), others[key]
            rate = states[key].delivery_rate
            if rate is not None:
                in_turn, parallel = self._metering.admit(invocation, key, in_turn, parallel, per_second=rate)
            if in_turn:
                lanes[key].append(in_order(in_turn, per_request=rate))
            for plan, group in parallel:
                lanes[key] += parallel_entries(plan, group, per_request=rate)
        # Threads per batch: in Lambda one batch runs per environment at a time; where several run in one process
        # (the local stack), a batch's hanging requests still hold only its own threads.
        send_fairly(
            lanes,
            lambda key, chunks: self._run_in_order(invocation, key, chunks),
            concurrency=self._concurrency,
            first_lanes=FIRST_LANES,
        )
        invocation.wait(until=deadline - RETURN_MARGIN_SECONDS)
        # First: the bookkeeping below must not delay any retry's schedule.
        returned = self._hand_back.close(invocation, entries)
        self._tallies.record_health(invocation)
        self._tallies.count(invocation)
        return returned

    def dead_letter_abandoned(self, received: Sequence[ReceivedJob], *, deadline: float) -> set[str]:
        """Jobs the queue gave up on (returned untried maxReceiveCount times, or crashing the dispatcher): record
        them as `processing_failed` dead letters with the record's real send count, listed and replayable like
        every other failed delivery. Returns the message ids that could not be recorded (they stay on the DLQ)."""
        invocation = Invocation.starting(deadline, self._clock)
        entries = _first_copies(received)
        try:
            tickets = self._claims.read(entries)
        except Exception:
            logger.exception("could not read the abandoned jobs' deliveries; they stay on the dead-letter queue")
            return {entry.message_id for entry in entries}
        for ticket in tickets:
            if self._goes_on(invocation, ticket, honour_schedule=False):
                self._chunks.record_outcome(invocation, ticket, SendResult(ABANDONED, sent=False))
        invocation.wait(until=deadline - RETURN_MARGIN_SECONDS)
        for workspace_id, destination_id in {entry.destination for entry, _, _ in invocation.recorded}:
            try:  # for the metrics' destination_type dimension; usually cached
                destination_type = self._planner.destination_type(workspace_id, destination_id)
            except Exception:
                logger.warning("could not read an abandoned job's destination type", exc_info=True)
                continue
            if destination_type is not None:
                invocation.types[(workspace_id, destination_id)] = destination_type
        returned = set(invocation.close())
        self._tallies.count(invocation)
        return returned

    def _run_in_order(self, invocation: Invocation, key: DestinationKey, chunks: ChunkSequence) -> bool:
        """Send the chunks one after another; returns whether the destination delivered any of them."""
        delivered = False
        for plan, chunk in chunks:
            delivered = self._chunks.run(invocation, key, plan, chunk) or delivered
        return delivered

    def _paused_or_expired(self, invocation: Invocation, ticket: Ticket, destination: DestinationState | None) -> bool:
        """Whether a pause decides the job (design §2.2): a delivery held past HOLD_MAX_SECONDS is dead-lettered
        `hold_expired`, unsent; one of a paused destination is held (acknowledged once its record says `held`). Test
        sends are never held."""
        state, job = ticket.state, ticket.entry.job
        if job.reason == "test" or state.finished:
            return False
        if state.held and state.held_at is not None and state.held_at + self._hold_max_seconds <= self._clock():
            self._chunks.record_outcome(invocation, ticket, SendResult(HOLD_EXPIRED, sent=False))
            return True
        if destination is None or not destination.paused:
            return False
        if state.held:
            return True
        standing = self._claims.standing(state, honour_schedule=False)
        if isinstance(standing, Wait):  # another copy is sending: its record decides, then this job again
            invocation.give_back(ticket.entry, standing.seconds)
            return True
        invocation.in_background(
            self._bookkeeping, ticket.entry, self._claims.untried_delay(ticket.entry),
            self._claims.keep_held, invocation, ticket,
        )  # fmt: skip
        return True

    def _goes_on(self, invocation: Invocation, ticket: Ticket, *, honour_schedule: bool) -> bool:
        """Whether the job is to be handled now: not when finished (acknowledged), held or leased by another copy, or
        (`honour_schedule`) scheduled later (back then), nor while a job queued again waits out its twins."""
        standing = self._claims.standing(ticket.state, honour_schedule=honour_schedule)
        if standing == DONE:
            return False
        if isinstance(standing, Wait):
            invocation.give_back(ticket.entry, standing.seconds, on_schedule=standing.on_schedule)
            return False
        if honour_schedule and ticket.claim is Claim.HOLD:
            invocation.in_background(
                self._bookkeeping, ticket.entry, self._claims.untried_delay(ticket.entry),
                self._claims.hold, invocation, ticket,
            )  # fmt: skip
            return False
        return True

    def _plan(
        self,
        invocation: Invocation,
        workspace_id: str,
        destination_id: str,
        action_id: str,
        group: list[Ticket],
        *,
        version: int,
    ) -> Plan | Outcome | None:
        """The action's plan, or the outcome its jobs get unsent; None after giving them back untried (no time
        left to send any of them, or the configuration could not be loaded)."""
        if not self._chunks.fits(invocation):
            for ticket in group:
                invocation.give_back(ticket.entry, 0)
            return None
        testing = all(ticket.entry.job.reason == "test" for ticket in group)
        try:
            return self._planner.plan(workspace_id, destination_id, action_id, version=version, testing=testing)
        except Exception:  # an outage must not cost attempts: back to the queue untried
            logger.exception("could not load the delivery configuration", extra={"destination_id": destination_id})
            for ticket in group:
                invocation.give_back(ticket.entry, self._claims.untried_delay(ticket.entry))
            return None

    def _record_unsent(self, invocation: Invocation, group: list[Ticket], outcome: Outcome) -> None:
        """An outcome decided without sending (a skip, a refusal): final, whatever the schedule."""
        for ticket in group:
            self._chunks.record_outcome(invocation, ticket, SendResult(outcome, sent=False))


def _recovered_now(ticket: Ticket) -> bool:
    """A recovery re-queued a delivery that is waiting for its next retry: it is sent now, not at its time."""
    return ticket.entry.job.reason == "replay" and ticket.state.status == "retrying"


def _first_copies(received: Sequence[ReceivedJob]) -> list[ReceivedJob]:
    """One job per delivery id: a second copy in the same batch is acknowledged, the first carries it on."""
    seen: dict[str, ReceivedJob] = {}
    for entry in received:
        seen.setdefault(entry.job.delivery_id, entry)
    return list(seen.values())
