"""Customer metrics: a destination's delivery counters per action over a window, from the hourly counters."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..clock import iso_utc
from ..errors import DestinationNotFound
from ..storage.counters import Counts, DeliveryCounters, hour_of
from ..storage.destinations import DestinationStore
from ..storage.records import Workspace

WINDOW_SECONDS = {"1h": 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    window: str
    starts_at: str  # the first hour counted
    actions: list[tuple[str, Counts]]  # (action id, its counts), in the destination's action order
    totals: Counts


class MetricsService:
    def __init__(
        self, destinations: DestinationStore, counters: DeliveryCounters, clock: Callable[[], float] = time.time
    ) -> None:
        self._destinations = destinations
        self._counters = counters
        self._clock = clock

    def for_destination(self, workspace: Workspace, destination_id: str, window: str) -> WindowMetrics:
        """The hourly buckets the window touches (so `1h` covers the previous hour and the current one so far)."""
        record = self._destinations.get(workspace.workspace_id, destination_id, consistent=False)
        if record is None:
            raise DestinationNotFound()
        now = self._clock()
        first_hour = hour_of(now - WINDOW_SECONDS[window])
        counted = self._counters.read(
            workspace.workspace_id, destination_id, first_hour=first_hour, last_hour=hour_of(now)
        )
        actions = [(action.id, counted.get(action.id, Counts())) for action in record.actions]
        totals = Counts()
        for _, counts in actions:
            totals.add(counts)
        starts_at = datetime.strptime(first_hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        return WindowMetrics(window, iso_utc(starts_at), actions, totals)
