"""A batch's share of its rate-limited destinations' tokens (design §8.11): per such destination one take from its
bucket (storage/rate_buckets.py) for every job of the batch going on, the tokens handed to the jobs in the order they
would be sent; a job without one waits its place in line. Unlimited destinations never come here: no call, no work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..observability import logger
from ..rates import PACING_SECONDS, interval
from ..storage.delivery_states import new_token
from ..storage.rate_buckets import RateBuckets
from .circuit import DestinationKey
from .claims import Ticket

# Destinations whose bucket this environment remembers (its last known `free_at`, to pick the take's form).
REMEMBERED_BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class Allotment:
    sending: list[Ticket]  # each with its token's time (`send_at`), in the order given
    waiting: list[tuple[Ticket, float]]  # without a token: seconds until its place in line comes
    per_request: int  # events a request may carry: a second's worth at most


class RateLimiter:
    def __init__(self, buckets: RateBuckets, *, clock: Callable[[], float]) -> None:
        self._buckets = buckets
        self._clock = clock
        self._free_at: dict[DestinationKey, float] = {}
        self._lock = threading.Lock()

    def allot(self, key: DestinationKey, per_second: int, tickets: Sequence[Ticket], *, horizon: float) -> Allotment:
        """Tokens for `tickets` (in sending order) from the destination's bucket, within `horizon` seconds (at most
        PACING_SECONDS). Should the take fail, every job waits a second, untried (nothing is sent unmetered)."""
        spacing = interval(per_second)
        now = self._clock()
        with self._lock:
            believed = self._free_at.get(key, 0.0)
        try:
            grant = self._buckets.take(
                *key, wanted=len(tickets), spacing=spacing, now=now, horizon=min(horizon, PACING_SECONDS),
                believed_free_at=believed, token=new_token(),
            )  # fmt: skip
        except Exception:
            logger.exception("could not take delivery-rate tokens", extra={"destination_id": key[1]})
            return Allotment([], [(ticket, 1.0) for ticket in tickets], 1)
        with self._lock:
            if len(self._free_at) >= REMEMBERED_BUCKETS:
                self._free_at.clear()
            self._free_at[key] = grant.free_at
        sending = list(tickets[: grant.count])
        for index, ticket in enumerate(sending):
            ticket.send_at = grant.token_at(index)
        waiting = [(ticket, grant.wait(place, now=now)) for place, ticket in enumerate(tickets[grant.count :])]
        return Allotment(sending, waiting, per_second)
