"""Customer metrics: a destination's delivery counters per action over a window, from the hourly counters, with what
waits now (its throttled backlog and oldest pending delivery, design §8.11); and its volume estimate: how many events
each action matched, enabled or not (fan-out evaluates disabled ones too)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..clock import iso_utc, parse_rfc3339
from ..errors import DestinationNotFound
from ..ids import id_millis
from ..models.metrics import BACKLOG_COUNT_LIMIT
from ..storage.counters import Counts, DeliveryCounters, hour_of
from ..storage.deliveries import DeliveryLog
from ..storage.destinations import DestinationStore
from ..storage.records import DestinationRecord, Workspace

WINDOW_SECONDS = {"1h": 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
DAY_SECONDS = 24 * 3600
# A daily rate is taken over at least this long, so an action created minutes ago is not extrapolated from them.
MIN_RATE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    window: str
    starts_at: str  # the first hour counted
    actions: list[tuple[str, Counts]]  # (action id, its counts), in the destination's action order
    totals: Counts
    throttled_backlog: int  # deliveries waiting for the delivery rate now (at most BACKLOG_COUNT_LIMIT counted)
    oldest_pending_seconds: int | None  # age of the oldest delivery waiting for a next try; None when none waits


@dataclass(frozen=True, slots=True)
class ActionVolume:
    action_id: str
    enabled: bool  # the action's own flag (its destination's is the destination's)
    matched: int  # events its filter passed in the window, queued or not (the action or destination disabled)
    matched_per_day: float  # `matched` over the time counted: the window from the action's creation, at least an hour


@dataclass(frozen=True, slots=True)
class VolumeEstimate:
    window: str
    actions: list[ActionVolume]  # in the destination's action order


class MetricsService:
    def __init__(
        self,
        destinations: DestinationStore,
        counters: DeliveryCounters,
        log: DeliveryLog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._destinations = destinations
        self._counters = counters
        self._log = log
        self._clock = clock

    def for_destination(self, workspace: Workspace, destination_id: str, window: str) -> WindowMetrics:
        """The hourly buckets the window touches (so `1h` covers the previous hour and the current one so far), and
        what waits now."""
        record, starts_at, now, counted = self._counted(workspace, destination_id, window)
        actions = [(action.id, counted.get(action.id, Counts())) for action in record.actions]
        totals = Counts()
        for _, counts in actions:
            totals.add(counts)
        waiting = self._log.waiting(record.id, count_limit=BACKLOG_COUNT_LIMIT)
        oldest = None
        if waiting.oldest_delivery_id is not None:
            oldest = max(0, int(now - id_millis(waiting.oldest_delivery_id) / 1000))
        return WindowMetrics(window, iso_utc(starts_at), actions, totals, waiting.throttled, oldest)

    def estimate(self, workspace: Workspace, destination_id: str, window: str) -> VolumeEstimate:
        """What each action matched over the window's hourly buckets, enabled or disabled, and its daily rate."""
        record, starts_at, now, counted = self._counted(workspace, destination_id, window)
        volumes = []
        for action in record.actions:
            counts = counted.get(action.id, Counts())
            matched = counts.matched + counts.matched_disabled
            since = max(starts_at.timestamp(), parse_rfc3339(action.created_at).timestamp())
            per_day = matched * DAY_SECONDS / max(now - since, MIN_RATE_SECONDS)
            volumes.append(ActionVolume(action.id, action.enabled, matched, round(per_day, 1)))
        return VolumeEstimate(window, volumes)

    def _counted(
        self, workspace: Workspace, destination_id: str, window: str
    ) -> tuple[DestinationRecord, datetime, float, dict[str, Counts]]:
        """The destination, the start of the window's first hour, now, and the counts per action since then."""
        record = self._destinations.get(workspace.workspace_id, destination_id, consistent=False)
        if record is None:
            raise DestinationNotFound()
        now = self._clock()
        first_hour = hour_of(now - WINDOW_SECONDS[window])
        counted = self._counters.read(
            workspace.workspace_id, destination_id, first_hour=first_hour, last_hour=hour_of(now)
        )
        starts_at = datetime.strptime(first_hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        return record, starts_at, now, counted
