"""Jobs going back to their queue (design §2.1, §2.2 "Order"): each message with when it comes back, on the queue it
came from; a FIFO job on its retry's schedule leaves the FIFO queue for the Deliveries queue instead, so its backoff
does not hold its destination's later deliveries (`ordering.py`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ..jobs import DeliveryJob, ReceivedJob
from ..observability import logger
from .invocation import Invocation, Return
from .ordering import fifo_returns
from .retry import SQS_MAX_VISIBILITY_SECONDS

# Handed the (receipt handle, delay seconds) of every message going back to its queue, once per batch and queue, and
# whether that queue is the released deliveries' FIFO queue.
ReturnToQueue = Callable[[Sequence[tuple[str, int]], bool], None]
# Queues jobs on the Deliveries queue, each to come after its delay (seconds); returns the indexes not queued.
SendLater = Callable[[Sequence[tuple[DeliveryJob, float]]], list[int]]


class HandBack:
    def __init__(self, return_to_queue: ReturnToQueue, send_later: SendLater) -> None:
        self._return_to_queue = return_to_queue
        self._send_later = send_later

    def close(self, invocation: Invocation, batch: Sequence[ReceivedJob]) -> set[str]:
        """Every job of the invocation going back, with when it comes back; FIFO jobs in their destination's order,
        those on their retry's schedule moved to the Deliveries queue instead. Returns the message ids that went
        back (those moved are acknowledged)."""
        returns = invocation.close()
        back = {message_id: going for message_id, going in returns.items() if not going.entry.ordered}
        fifo_back, leaving = fifo_returns(batch, returns)
        for going in self._moved_later(leaving):  # not moved: it waits on the FIFO queue, holding its group
            fifo_back[going.entry.message_id] = going
        back |= fifo_back
        self.now([going for key, going in back.items() if key not in invocation.returned_early])
        return set(back)

    def now(self, returns: Sequence[Return]) -> None:
        """Set when each message comes back, on its own queue."""
        for ordered in (False, True):
            visibilities = [
                (going.entry.receipt_handle, _visibility(going.delay))
                for going in returns
                if going.entry.ordered is ordered
            ]
            if visibilities:
                self._return_to_queue(visibilities, ordered)

    def _moved_later(self, leaving: list[Return]) -> list[Return]:
        """Queue each on the Deliveries queue for when its record's schedule is due (its FIFO message is then
        acknowledged); returns those that could not be queued."""
        if not leaving:
            return []
        try:
            refused = self._send_later([(going.entry.job, going.delay) for going in leaving])
        except Exception:
            logger.exception("could not queue released deliveries for their retry; they wait on the FIFO queue")
            return leaving
        return [leaving[index] for index in refused]


def _visibility(delay: float) -> int:
    return min(SQS_MAX_VISIBILITY_SECONDS, max(0, math.ceil(delay)))
