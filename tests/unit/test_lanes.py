"""The dispatcher's bulkheads (delivery/lanes.py): every chunk sent once, a workspace's share never exceeded, a
destination's part of it while others have chunks, and threads nobody else needs used."""

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


def test_every_chunk_is_sent_once_within_its_workspaces_share() -> None:
    chunks = {("ws_a", f"d{n}"): list(range(5)) for n in range(8)} | {("ws_b", "d9"): list(range(3))}
    seen = Concurrency()
    gate = threading.Barrier(4 + 3, timeout=10)  # ws_a's share (8 threads / 2 workspaces) + one per d9 chunk
    runner = threading.local()

    def send(key: tuple[str, str], chunk: int) -> None:
        seen.enter(key, chunk)
        if not getattr(runner, "started", False):  # each runner's first send waits for all: they run at once
            runner.started = True
            gate.wait()
        seen.leave(key)

    send_fairly(chunks, send, concurrency=8)

    assert sorted(seen.sent) == sorted((key, chunk) for key, items in chunks.items() for chunk in items)
    assert seen.peak["ws_a"] == 4 and seen.peak["ws_b"] == 3


def test_a_batch_of_one_workspace_keeps_the_whole_concurrency() -> None:
    chunks = {("ws_a", f"d{n}"): [0] for n in range(8)}
    gate = threading.Barrier(8, timeout=10)  # only passes when all 8 run at once

    send_fairly(chunks, lambda _key, _chunk: gate.wait(), concurrency=8)

    assert gate.n_waiting == 0 and not gate.broken


def test_many_workspaces_each_get_a_thread_of_their_own() -> None:
    chunks = {(f"ws_{n}", "d"): [0] for n in range(20)}
    gate = threading.Barrier(20, timeout=10)  # 20 workspaces, concurrency 8: none waits behind another

    send_fairly(chunks, lambda _key, _chunk: gate.wait(), concurrency=8)

    assert not gate.broken


def test_a_workspaces_threads_are_shared_equally_among_its_destinations() -> None:
    chunks = {("ws_a", "hook"): list(range(8)), ("ws_a", "crm"): list(range(8))}
    seen = Concurrency()
    gate = threading.Barrier(8, timeout=10)  # passes only when 8 sends run at once: 4 per destination
    at_gate: list[Counter[object]] = []

    def send(key: tuple[str, str], chunk: int) -> None:
        seen.enter(key, chunk)
        if chunk == 0:
            with seen.lock:
                at_gate.append(Counter(seen.now))
        if chunk < 4:
            gate.wait()
        seen.leave(key)

    send_fairly(chunks, send, concurrency=8)

    assert not gate.broken
    assert at_gate and all(now[("ws_a", "hook")] <= 4 and now[("ws_a", "crm")] <= 4 for now in at_gate)
    assert sorted(seen.sent) == sorted((key, chunk) for key, items in chunks.items() for chunk in items)


def test_threads_a_finished_destination_leaves_go_to_one_with_chunks_waiting() -> None:
    chunks = {("ws_a", "crm"): [0], ("ws_a", "hook"): list(range(16))}
    gate = threading.Barrier(8, timeout=10)  # the hook's sends pass only once 8 of them run at once

    def send(key: tuple[str, str], chunk: int) -> None:
        if key[1] == "hook" and chunk < 8:
            gate.wait()

    send_fairly(chunks, send, concurrency=8)

    assert not gate.broken
