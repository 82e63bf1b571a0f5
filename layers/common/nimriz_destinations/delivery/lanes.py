"""The bulkheads of a dispatcher batch: which chunk is sent next, so that neither one workspace nor one destination
can hold the batch's sending threads.

A batch's chunks are grouped per workspace and, inside it, per destination. Each workspace gets its share of the
threads (the concurrency divided among the workspaces in the batch, at least one each) and each destination at
most `per_destination` of them; a workspace's runners take its destinations' chunks in turn. So hanging endpoints
hold at most their own workspace's share, however many destinations it has, while every other workspace's chunks
start at once. A batch of one workspace keeps the whole concurrency.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from .circuit import DestinationKey


class _WorkspaceChunks[Chunk]:
    """One workspace's chunks: handed out destination by destination in turn, at most `per_destination` of one
    destination's at a time."""

    def __init__(self, chunks: Mapping[DestinationKey, Sequence[Chunk]], per_destination: int) -> None:
        self._queues = {key: deque(items) for key, items in chunks.items() if items}
        self._order = deque(self._queues)
        self._running: Counter[Hashable] = Counter()
        self._per_destination = per_destination
        self._lock = threading.Lock()

    @property
    def useful_runners(self) -> int:
        return sum(min(len(queue), self._per_destination) for queue in self._queues.values())

    def take(self) -> tuple[DestinationKey, Chunk] | None:
        """The next chunk to send, or None when every destination with chunks left is at its limit (the runners
        sending for those take the rest) or nothing is left."""
        with self._lock:
            for _ in range(len(self._order)):
                key = self._order[0]
                self._order.rotate(-1)
                queue = self._queues[key]
                if queue and self._running[key] < self._per_destination:
                    self._running[key] += 1
                    return key, queue.popleft()
            return None

    def done(self, key: DestinationKey) -> None:
        with self._lock:
            self._running[key] -= 1


def send_fairly[Chunk](
    chunks: Mapping[DestinationKey, Sequence[Chunk]],
    send: Callable[[DestinationKey, Chunk], object],
    *,
    concurrency: int,
    per_destination: int,
) -> None:
    """Call `send` for every chunk, with the bulkheads above; returns when all are done. `send` must not raise."""
    by_workspace: dict[str, dict[DestinationKey, Sequence[Chunk]]] = {}
    for key, items in chunks.items():
        by_workspace.setdefault(key[0], {})[key] = items
    if not by_workspace:
        return
    share = max(1, math.ceil(concurrency / len(by_workspace)))
    workspaces = [_WorkspaceChunks(destinations, per_destination) for destinations in by_workspace.values()]
    runners = [(chunks_of, min(share, chunks_of.useful_runners)) for chunks_of in workspaces]
    # Every runner has its thread from the start: none waits behind another workspace's.
    with ThreadPoolExecutor(max_workers=sum(count for _, count in runners), thread_name_prefix="deliver") as pool:
        running = [pool.submit(_drain, chunks_of, send) for chunks_of, count in runners for _ in range(count)]
        for future in running:
            future.result()


def _drain[Chunk](chunks: _WorkspaceChunks[Chunk], send: Callable[[DestinationKey, Chunk], object]) -> None:
    while (taken := chunks.take()) is not None:
        key, chunk = taken
        try:
            send(key, chunk)
        finally:
            chunks.done(key)
