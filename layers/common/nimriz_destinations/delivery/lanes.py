"""The bulkheads of a dispatcher batch: which chunk is sent next, so that neither one workspace nor one destination
can hold the batch's sending threads.

A batch's chunks are grouped per workspace and, inside it, per destination. Each workspace gets its share of the
threads (the concurrency divided among the workspaces in the batch, at least one each); a workspace's runners take
its destinations' chunks in turn. A destination has `first_lanes` threads until a chunk of it is delivered, then an
equal part of its workspace's share among the destinations that still have chunks queued or sending (back to
`first_lanes` after a chunk that is not). So an endpoint that hangs or fails holds `first_lanes` threads, every
other workspace's chunks start at once, and a destination that answers sends its chunks in parallel, with the
threads the others have no use for (a runner with nothing it may take waits for a send to end): requests waiting on
their answers are most of a dispatcher's Lambda time (docs/cost.md).
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from .circuit import DestinationKey


class _WorkspaceChunks[Chunk]:
    """One workspace's chunks for `runners` threads: handed out destination by destination in turn, each
    destination at most `first_lanes` of them until it delivers, then its part of the runners."""

    def __init__(self, chunks: Mapping[DestinationKey, Sequence[Chunk]], runners: int, first_lanes: int) -> None:
        self._queues = {key: deque(items) for key, items in chunks.items() if items}
        self._order = deque(self._queues)
        self._running: Counter[Hashable] = Counter()
        self._first_lanes = first_lanes
        self._delivering: set[Hashable] = set()  # destinations whose last chunk was delivered
        self._runners = runners
        self._changed = threading.Condition()

    def take(self) -> tuple[DestinationKey, Chunk] | None:
        """The next chunk to send, or None when none is left. While every destination with chunks queued is at its
        part, waits for a send to end (a destination finishing raises the others' parts)."""
        with self._changed:
            while any(self._queues.values()):
                busy = sum(1 for key, queue in self._queues.items() if queue or self._running[key])
                part = math.ceil(self._runners / busy)
                for _ in range(len(self._order)):
                    key = self._order[0]
                    self._order.rotate(-1)
                    limit = part if key in self._delivering else min(part, self._first_lanes)
                    if self._queues[key] and self._running[key] < limit:
                        self._running[key] += 1
                        return key, self._queues[key].popleft()
                self._changed.wait()
            return None

    def done(self, key: DestinationKey, delivered: bool) -> None:
        with self._changed:
            self._running[key] -= 1
            if delivered:
                self._delivering.add(key)
            else:
                self._delivering.discard(key)
            self._changed.notify_all()


def send_fairly[Chunk](
    chunks: Mapping[DestinationKey, Sequence[Chunk]],
    send: Callable[[DestinationKey, Chunk], bool],
    *,
    concurrency: int,
    first_lanes: int,
) -> None:
    """Call `send` for every chunk, with the bulkheads above; returns when all are done. `send` returns whether the
    chunk was delivered, and must not raise."""
    by_workspace: dict[str, dict[DestinationKey, Sequence[Chunk]]] = {}
    for key, items in chunks.items():
        by_workspace.setdefault(key[0], {})[key] = items
    if not by_workspace:
        return
    share = max(1, math.ceil(concurrency / len(by_workspace)))
    runners = []
    for destinations in by_workspace.values():
        count = min(share, sum(len(items) for items in destinations.values()))
        if count:
            runners.append((_WorkspaceChunks(destinations, count, first_lanes), count))
    if not runners:
        return
    # Every runner has its thread from the start: none waits behind another workspace's.
    with ThreadPoolExecutor(max_workers=sum(count for _, count in runners), thread_name_prefix="deliver") as pool:
        running = [pool.submit(_drain, chunks_of, send) for chunks_of, count in runners for _ in range(count)]
        for future in running:
            future.result()


def _drain[Chunk](chunks: _WorkspaceChunks[Chunk], send: Callable[[DestinationKey, Chunk], bool]) -> None:
    while (taken := chunks.take()) is not None:
        key, chunk = taken
        delivered = False
        try:
            delivered = send(key, chunk)
        finally:
            chunks.done(key, delivered)
