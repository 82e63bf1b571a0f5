"""A rate-limited destination's jobs in one batch (design §8.11): which are sent now, each with its token's time, and
what becomes of the others (back to the queue at once, for their place in line; recorded `throttled` once)."""

from __future__ import annotations

from ..storage.deliveries import THROTTLED as WAITING_FOR_RATE
from .chunks import Chunks
from .circuit import DestinationKey
from .claims import Ticket
from .hand_back import HandBack
from .invocation import Invocation, Return
from .outcomes import rate_limited
from .planning import Plan
from .rate_limiter import RateLimiter
from .send_result import SendResult


class Metering:
    def __init__(self, limiter: RateLimiter, chunks: Chunks, hand_back: HandBack) -> None:
        self._limiter = limiter
        self._chunks = chunks
        self._hand_back = hand_back

    def admit(
        self,
        invocation: Invocation,
        key: DestinationKey,
        in_turn: list[tuple[Plan, Ticket]],
        parallel: list[tuple[Plan, list[Ticket]]],
        *,
        per_second: int,
    ) -> tuple[list[tuple[Plan, Ticket]], list[tuple[Plan, list[Ticket]]]]:
        """The jobs of a rate-limited destination that got a token (design §8.11), those sent in order first; the
        others wait their place in line, unsent: recorded `throttled` once, given back as they are while their record
        already says so. A FIFO job after one waiting goes back untried and unrecorded, behind it (ordering.py)."""
        tickets = [ticket for _, ticket in in_turn] + [ticket for _, group in parallel for ticket in group]
        horizon = invocation.time_left() - self._chunks.reserve_seconds
        allotment = self._limiter.allot(key, per_second, tickets, horizon=horizon)
        waiting = []
        for ticket, wait in allotment.waiting:
            if invocation.blocked(ticket.entry):
                invocation.give_back(ticket.entry, 0)
                continue
            waiting.append((ticket, wait))
            if ticket.entry.ordered:  # now: its destination's later FIFO jobs go back behind it
                invocation.give_back(ticket.entry, wait)
        # Back now, not when the batch is done: its paced sends would add their time to every wait.
        self._hand_back.now([Return(ticket.entry, wait) for ticket, wait in waiting])
        invocation.returned_early.update(ticket.entry.message_id for ticket, _ in waiting)
        for ticket, wait in waiting:
            if ticket.state.status == WAITING_FOR_RATE:
                invocation.give_back(ticket.entry, wait)
            else:
                self._chunks.record_outcome(invocation, ticket, SendResult(rate_limited(wait), sent=False))
        sending = {id(ticket) for ticket in allotment.sending}
        return (
            [(plan, ticket) for plan, ticket in in_turn if id(ticket) in sending],
            [(plan, [ticket for ticket in group if id(ticket) in sending]) for plan, group in parallel],
        )
