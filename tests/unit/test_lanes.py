"""The dispatcher's bulkheads (delivery/lanes.py): every chunk sent once, a workspace's share and a destination's
first lanes never exceeded until it delivers, then its part of the share, and a batch of one workspace still using
every thread."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

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

    def send(key: tuple[str, str], chunk: int) -> bool:
        seen.enter(key, chunk)
        if not getattr(runner, "started", False):  # each runner's first send waits for all: they run at once
            runner.started = True
            gate.wait()
        seen.leave(key)
        return False  # nothing delivered: no destination gets more than its first lanes

    send_fairly(chunks, send, concurrency=8, first_lanes=2)

    assert sorted(seen.sent) == sorted((key, chunk) for key, items in chunks.items() for chunk in items)
    assert seen.peak["ws_a"] == 4 and seen.peak["ws_b"] == 2
    assert all(seen.peak[key] <= 2 for key in chunks)


def test_a_batch_of_one_workspace_keeps_the_whole_concurrency() -> None:
    chunks = {("ws_a", f"d{n}"): [0] for n in range(8)}
    gate = threading.Barrier(8, timeout=10)  # only passes when all 8 run at once

    send_fairly(chunks, lambda _key, _chunk: gate.wait() < 0, concurrency=8, first_lanes=2)

    assert gate.n_waiting == 0 and not gate.broken


def test_many_workspaces_each_get_a_thread_of_their_own() -> None:
    chunks = {(f"ws_{n}", "d"): [0] for n in range(20)}
    gate = threading.Barrier(20, timeout=10)  # 20 workspaces, concurrency 8: none waits behind another

    send_fairly(chunks, lambda _key, _chunk: gate.wait() < 0, concurrency=8, first_lanes=2)

    assert not gate.broken


def delivering_at_once_after(
    quick: int, gate: threading.Barrier, seen: Concurrency
) -> Callable[[tuple[str, str], int], bool]:
    """A send delivering each chunk; a destination's chunks numbered from `quick` on wait at `gate` first."""

    def send(key: tuple[str, str], chunk: int) -> bool:
        seen.enter(key, chunk)
        if chunk >= quick:
            gate.wait()
        seen.leave(key)
        return True

    return send


def test_a_destination_that_delivers_gets_the_whole_share_after_its_first_lanes() -> None:
    chunks = {("ws_a", "hook"): list(range(10))}
    seen = Concurrency()
    gate = threading.Barrier(8, timeout=10)  # once a chunk is delivered: all 8 threads at once

    send_fairly(chunks, delivering_at_once_after(2, gate, seen), concurrency=8, first_lanes=2)

    assert not gate.broken and seen.peak[("ws_a", "hook")] == 8


def test_a_workspaces_threads_are_shared_equally_among_its_destinations_that_deliver() -> None:
    chunks = {("ws_a", "hook"): list(range(10)), ("ws_a", "crm"): list(range(10))}
    seen = Concurrency()
    gate = threading.Barrier(8, timeout=10)  # passes only when 8 sends run at once: 4 per destination

    send_fairly(chunks, delivering_at_once_after(2, gate, seen), concurrency=8, first_lanes=2)

    assert not gate.broken
    assert seen.peak[("ws_a", "hook")] == 4 and seen.peak[("ws_a", "crm")] == 4
    assert sorted(seen.sent) == sorted((key, chunk) for key, items in chunks.items() for chunk in items)


def test_threads_a_finished_destination_leaves_go_to_one_that_delivers() -> None:
    chunks = {("ws_a", "crm"): [0], ("ws_a", "hook"): list(range(10))}
    seen = Concurrency()
    gate = threading.Barrier(8, timeout=10)

    send_fairly(chunks, delivering_at_once_after(2, gate, seen), concurrency=8, first_lanes=2)

    assert not gate.broken and seen.peak[("ws_a", "hook")] == 8
