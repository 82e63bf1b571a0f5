"""The dispatcher's bulkheads (delivery/lanes.py): every chunk sent once, a workspace's share and a destination's
limit never exceeded, and a batch of one workspace still using every thread."""

from __future__ import annotations

import threading
from collections import Counter

from nimriz_destinations.delivery.lanes import send_fairly


class Concurrency:
    """Counts how many sends run at once, per workspace and per destination."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: Counter[object] = Counter()
        self.peak: Counter[object] = Counter()
        self.sent: list[tuple[tuple[str, str], int]] = []

    def enter(self, key: tuple[str, str], chunk: int) -> None:
        with self.lock:
            for scope in (key[0], key):
                self.now[scope] += 1
                self.peak[scope] = max(self.peak[scope], self.now[scope])
            self.sent.append((key, chunk))

    def leave(self, key: tuple[str, str]) -> None:
        with self.lock:
            for scope in (key[0], key):
                self.now[scope] -= 1


def test_every_chunk_is_sent_once_within_the_workspace_share_and_the_destination_limit() -> None:
    chunks = {("ws_a", f"d{n}"): list(range(5)) for n in range(8)} | {("ws_b", "d9"): list(range(3))}
    seen = Concurrency()
    gate = threading.Barrier(4 + 2, timeout=10)  # ws_a's share (8 threads / 2 workspaces) + d9's 2 lanes
    runner = threading.local()

    def send(key: tuple[str, str], chunk: int) -> None:
        seen.enter(key, chunk)
        if not getattr(runner, "started", False):  # each runner's first send waits for all: they run at once
            runner.started = True
            gate.wait()
        seen.leave(key)

    send_fairly(chunks, send, concurrency=8, per_destination=2)

    assert sorted(seen.sent) == sorted((key, chunk) for key, items in chunks.items() for chunk in items)
    assert seen.peak["ws_a"] == 4 and seen.peak["ws_b"] == 2
    assert all(seen.peak[key] <= 2 for key in chunks)


def test_a_batch_of_one_workspace_keeps_the_whole_concurrency() -> None:
    chunks = {("ws_a", f"d{n}"): [0] for n in range(8)}
    gate = threading.Barrier(8, timeout=10)  # only passes when all 8 run at once

    send_fairly(chunks, lambda _key, _chunk: gate.wait(), concurrency=8, per_destination=2)

    assert gate.n_waiting == 0 and not gate.broken


def test_many_workspaces_each_get_a_thread_of_their_own() -> None:
    chunks = {(f"ws_{n}", "d"): [0] for n in range(20)}
    gate = threading.Barrier(20, timeout=10)  # 20 workspaces, concurrency 8: none waits behind another

    send_fairly(chunks, lambda _key, _chunk: gate.wait(), concurrency=8, per_destination=2)

    assert not gate.broken
