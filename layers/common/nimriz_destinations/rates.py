"""The delivery rate's arithmetic (design §8.11): a destination's token bucket kept as one stored time, `free_at`, the
moment its next token is free (the "theoretical arrival time" of a GCRA, the generic cell rate algorithm: a token
bucket whose refill is computed from that one timestamp, so taking tokens is one conditional update).

Tokens are one per event and spaced `interval` apart: `SPACING_MARGIN` over 1/per_second, so that a send started up to
`SLOT_GRACE_SECONDS` after its token's time, and received up to the rest of the margin later than its neighbours,
still falls in a second holding at most `per_second` events. A taker asks for its events' tokens within a pacing
horizon (what its invocation may wait for them); the events without one go back to the queue, each after its place
in line behind the tokens already taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A send must start within this long after its token's time, else the token lapses (the job goes back untried).
SLOT_GRACE_SECONDS = 0.05
# Tokens are (1 + SPACING_MARGIN) / per_second apart: any per_second + 1 tokens span 1 + SPACING_MARGIN seconds, so
# any 1 s window at the receiver holds at most per_second events as long as no request reaches it more than
# SPACING_MARGIN seconds after its token. That budget is the grace above plus a stall between the start check and
# the bytes on the wire (a garbage collection, a busy core) plus the network's jitter: on the local stack, a 2-core
# machine, one request arrived about 250 ms after its token (a 10 % margin let 6 events into one second there).
SPACING_MARGIN = 0.3
# The longest an invocation waits for a token it took: tokens further ahead are not taken (the jobs go back). Two
# seconds: a job sent back comes again after a whole second of visibility plus the event source mapping's batching
# window (1 s), so a one-second horizon would leave the bucket idle half the time (measured on the local stack: 100
# events at 5/s took 43 s with 1 s, 27 s with 2 s). Grant.wait relies on it: a job back up to a second early still
# takes its token.
PACING_SECONDS = 2.0


def interval(per_second: int) -> float:
    """Seconds between two tokens of a destination sending at most `per_second` events a second."""
    return (1.0 + SPACING_MARGIN) / per_second


@dataclass(frozen=True, slots=True)
class Grant:
    """Tokens taken: `count` of them, the first at `first_at` (epoch seconds), the others `spacing` apart; and
    `free_at`, the bucket's next free token after the take (or as last known, when nothing was taken)."""

    count: int
    first_at: float
    spacing: float
    free_at: float

    def token_at(self, index: int) -> float:
        return self.first_at + index * self.spacing

    def wait(self, place: int, *, now: float) -> float:
        """Seconds until the `place`-th (0-based) event without a token is back for one: its place in line after the
        tokens taken so far, in the whole seconds of the queue's visibility rounded down (back up to a second early,
        it takes the token within its pacing horizon; late, the token would lapse unused), at least a second."""
        return max(1.0, math.floor(self.free_at - now + place * self.spacing))


def grantable(*, free_at: float, now: float, wanted: int, spacing: float, horizon: float) -> int:
    """How many of `wanted` tokens a take may have now: those whose time is within `horizon` of `now`."""
    start = max(free_at, now)
    if start > now + horizon:
        return 0
    return min(wanted, math.floor((now + horizon - start) / spacing + 1e-9) + 1)


def granted(*, free_at_before: float, now: float, count: int, spacing: float) -> Grant:
    """The grant of `count` tokens taken from a bucket whose next free token was at `free_at_before`."""
    first = max(free_at_before, now)
    return Grant(count, first, spacing, first + count * spacing)
