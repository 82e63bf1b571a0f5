"""One dispatcher invocation's bookkeeping, shared by its lanes: its deadline, the messages going back to the queue
(and when each comes back), where each job of the released deliveries' FIFO queue stands in its destination's order
and from which one on its destination's jobs go back untried (design §2.2, "Order"), what was sent and recorded (for
health, counters and metrics once the batch is done), and the records still being written in the background, waited
for only as long as the deadline allows."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any

from ..jobs import ReceivedJob
from ..observability import logger
from ..storage.destinations import DestinationState
from .circuit import DestinationKey
from .send_result import SendResult

# A lease outlives the invocation that took it by this much (clock differences between hosts).
LEASE_MARGIN_SECONDS = 5.0
# Kept free at the very end of an invocation to hand the batch back and return its response.
RETURN_MARGIN_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Return:
    """A job going back: after `delay` seconds, either untried (to its queue) or `on_schedule`: its record holds when
    it is tried next (a retry), so a released delivery need not hold its destination's FIFO order meanwhile."""

    entry: ReceivedJob
    delay: float
    on_schedule: bool = False


@dataclass(slots=True)
class Invocation:
    deadline: float  # time.monotonic() by which the invocation must have returned
    lease_until: float  # epoch seconds: the leases and holds this invocation takes last until then
    returns: dict[str, Return] = field(default_factory=dict)  # by message id
    outcomes: defaultdict[tuple[str, str, str], list[SendResult]] = field(default_factory=lambda: defaultdict(list))
    recorded: list[tuple[ReceivedJob, str, SendResult]] = field(default_factory=list)  # (job, its status, outcome)
    types: dict[DestinationKey, str] = field(default_factory=dict)  # destination -> type, from the plans
    # Each destination as the batch's check read it at the start (its health: what the batch may leave unchanged).
    states: dict[DestinationKey, DestinationState] = field(default_factory=dict)
    # Work under way in the background, and where its job goes should the invocation end first.
    pending: dict[Future[None], tuple[ReceivedJob, float]] = field(default_factory=dict)
    # Messages going back whose visibility is already set (jobs waiting for a delivery rate, handed back at once).
    returned_early: set[str] = field(default_factory=set)
    # Jobs of the FIFO queue: each one's place in the batch; per destination, the place of its first job handed back
    # untried (from there on its jobs go back untried: none may go out before it).
    places: dict[str, int] = field(default_factory=dict)
    blocked_from: dict[DestinationKey, int] = field(default_factory=dict)
    closed: bool = False  # handed back: late work changes nothing here any more
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def starting(cls, deadline: float, clock: Callable[[], float], batch: Sequence[ReceivedJob] = ()) -> Invocation:
        remaining = max(0.0, deadline - time.monotonic())
        places = {entry.message_id: place for place, entry in enumerate(batch) if entry.ordered}
        return cls(deadline=deadline, lease_until=clock() + remaining + LEASE_MARGIN_SECONDS, places=places)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def give_back(
        self, entry: ReceivedJob, delay: float, *, unless_decided: bool = False, on_schedule: bool = False
    ) -> None:
        """The job goes back to the queue, to come back after `delay` seconds (`on_schedule`: see `Return`)."""
        with self.lock:
            if self.closed or (unless_decided and entry.message_id in self.returns):
                return
            self.returns[entry.message_id] = Return(entry, delay, on_schedule)
            place = self.places.get(entry.message_id)
            if place is not None and not on_schedule:
                self.blocked_from[entry.destination] = min(place, self.blocked_from.get(entry.destination, place))

    def blocked(self, entry: ReceivedJob) -> bool:
        """Whether a FIFO job of its destination before it went back untried: it may not go out now either."""
        place = self.places.get(entry.message_id)
        with self.lock:
            return place is not None and self.blocked_from.get(entry.destination, place) < place

    def acknowledge(self, entry: ReceivedJob) -> None:
        """The job is done after all (e.g. its record turned out written): it does not go back."""
        with self.lock:
            if not self.closed:
                self.returns.pop(entry.message_id, None)

    def sent(self, entry: ReceivedJob, result: SendResult) -> None:
        with self.lock:
            self.outcomes[(*entry.destination, entry.job.action_id)].append(result)

    def settled(self, entry: ReceivedJob, status: str, result: SendResult) -> None:
        with self.lock:
            if not self.closed:
                self.recorded.append((entry, status, result))

    def in_background(
        self,
        pool: ThreadPoolExecutor,
        entry: ReceivedJob,
        delay_if_unfinished: float,
        work: Callable[..., None],
        *args: Any,
    ) -> None:
        """Run `work` for `entry` in `pool`; should the invocation end first, the job goes back after
        `delay_if_unfinished` seconds (the work may still finish: every write it makes is safe to land late)."""
        future = pool.submit(self._run, entry, delay_if_unfinished, work, *args)
        with self.lock:
            self.pending[future] = (entry, delay_if_unfinished)

    def wait(self, until: float) -> None:
        """Wait for the background work (and what it starts) until time.monotonic() `until`; the jobs of what is
        still under way then go back to the queue."""
        while True:
            with self.lock:
                running = [future for future in self.pending if not future.done()]
            if not running:
                return
            done, _ = wait_for(running, timeout=max(0.0, until - time.monotonic()))
            if not done and time.monotonic() >= until:
                break
        with self.lock:
            unfinished = [self.pending[future] for future in self.pending if not future.done()]
        for entry, delay in unfinished:
            logger.warning("out of time before a delivery was recorded", extra={"delivery_id": entry.job.delivery_id})
            self.give_back(entry, delay, unless_decided=True)

    def _run(self, entry: ReceivedJob, delay: float, work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        except Exception:  # a bug in one job's bookkeeping: that job goes back, the others go on
            logger.exception("delivery bookkeeping failed unexpectedly", extra={"delivery_id": entry.job.delivery_id})
            self.give_back(entry, delay, unless_decided=True)

    def close(self) -> dict[str, Return]:
        """What goes back to the queue; nothing changes it afterwards."""
        with self.lock:
            self.closed = True
            return dict(self.returns)
