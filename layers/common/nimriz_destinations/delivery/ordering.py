"""The order of released deliveries (design §2.2, "Order").

In a batch, a destination's released held deliveries, and every job of the released deliveries' FIFO queue, are
sent one after another, oldest event first, in one lane, whatever action each is of; its other jobs in parallel
lanes. What goes back of a FIFO batch keeps each destination's order (its message group): from its first job
handed back untried on, every later job of it goes back untried too (SQS then hands none of them out before that
one), while a job whose record holds its next try (a retry's backoff) leaves the FIFO queue for the Deliveries
queue, so it does not hold its destination's later deliveries back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..jobs import ReceivedJob
from ..providers.common import epoch_millis
from .circuit import DestinationKey
from .claims import Ticket
from .invocation import Return
from .planning import Plan

# Chunks of one lane entry: sent one after another, each (the action's plan, its jobs) one group of requests.
Chunks = list[tuple[Plan, list[Ticket]]]


def keeps_order(ticket: Ticket) -> bool:
    """Whether the job is sent in its destination's order: a released held delivery, or a job of the FIFO queue."""
    return ticket.state.held or ticket.entry.ordered


def chunk_size(plan: Plan, per_request: int | None) -> int:
    """The provider's batch size, at most `per_request` events (a rate-limited destination's, design §8.11)."""
    return min(plan.provider.max_batch_size, per_request or plan.provider.max_batch_size)


def parallel_entries(plan: Plan, tickets: list[Ticket], *, per_request: int | None) -> list[Chunks]:
    """Chunks of the action's jobs, one lane entry each: sent in parallel."""
    size = chunk_size(plan, per_request)
    return [[(plan, tickets[start : start + size])] for start in range(0, len(tickets), size)]


def in_order(planned: Sequence[tuple[Plan, Ticket]], *, per_request: int | None) -> Chunks:
    """A destination's jobs (of any of its actions, in occurred order) in chunks of consecutive jobs of one action:
    one lane entry, sent one after another."""
    chunks: Chunks = []
    for plan, ticket in planned:
        if chunks and chunks[-1][0] is plan and len(chunks[-1][1]) < chunk_size(plan, per_request):
            chunks[-1][1].append(ticket)
        else:
            chunks.append((plan, [ticket]))
    return chunks


def in_occurred_order(planned: tuple[Plan, Ticket]) -> tuple[int, str]:
    """Sort key: oldest event first (then by delivery id)."""
    job = planned[1].entry.job
    return epoch_millis(job.event), job.delivery_id


def fifo_returns(batch: Sequence[ReceivedJob], returns: Mapping[str, Return]) -> tuple[dict[str, Return], list[Return]]:
    """The batch's FIFO jobs going back to the FIFO queue (by message id), and those leaving it for their schedule:
    per destination, in the batch's order, from the first job handed back untried on every job goes back untried
    (at once: SQS holds the group while that one is in flight); before it, one on its schedule leaves."""
    back: dict[str, Return] = {}
    leaving: list[Return] = []
    blocked: set[DestinationKey] = set()
    for entry in batch:
        if not entry.ordered:
            continue
        found = returns.get(entry.message_id)
        if entry.destination in blocked:
            # Acknowledged or scheduled after it (a copy finished elsewhere): its record decides when it comes back.
            back[entry.message_id] = found if found is not None and not found.on_schedule else Return(entry, 0)
        elif found is not None and found.on_schedule:
            leaving.append(found)
        elif found is not None:
            back[entry.message_id] = found
            blocked.add(entry.destination)
    return back, leaving
