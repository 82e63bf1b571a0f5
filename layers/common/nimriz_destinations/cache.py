"""A small bounded TTL cache for per-execution-environment caching (auth keys, configs, secrets)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

V = TypeVar("V")


class TTLCache[V]:
    """At most `max_entries` values, each served for at most `ttl_seconds` after it was loaded."""

    def __init__(self, *, max_entries: int, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        # The dispatcher delivers from a thread pool; loads run outside the lock (two may race: both are fine).
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
        value = load()
        with self._lock:
            self._entries[key] = (now + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def get(self, key: Hashable) -> V | None:
        """The value while it is fresh, without loading it; None otherwise."""
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > self._clock() else None

    def invalidate(self, key: Hashable) -> V | None:
        """Drop `key`; returns the value it held, if any (expired or not)."""
        with self._lock:
            entry = self._entries.pop(key, None)
        return entry[1] if entry is not None else None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
