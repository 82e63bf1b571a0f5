"""Configuration caches for the delivery functions: never one DynamoDB read per event.

Destinations and quotas are cached per workspace (fan-out) and destinations per destination (dispatcher) for a
bounded time (`CONFIG_CACHE_SECONDS`, 30 s by default): a change made through the API takes effect within that
bound.
Compiled filters and mappings are cached per (destination, version, action), so they compile once per
configuration version.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..cache import TTLCache
from ..filters import CompiledFilter, EventFilter, compile_filter
from ..mapping import CompiledMapping, PropertyMapping, compile_mapping
from ..quotas import Quotas
from ..storage.destinations import DestinationStore
from ..storage.quotas import QuotaStore
from ..storage.records import ActionRecord, DestinationRecord


class DestinationConfigs:
    def __init__(
        self,
        store: DestinationStore,
        quotas: QuotaStore,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._quota_store = quotas
        self._quotas: TTLCache[Quotas] = TTLCache(max_entries=1000, ttl_seconds=ttl_seconds, clock=clock)
        self._workspaces: TTLCache[list[DestinationRecord]] = TTLCache(
            max_entries=1000, ttl_seconds=ttl_seconds, clock=clock
        )
        self._destinations: TTLCache[DestinationRecord | None] = TTLCache(
            max_entries=5000, ttl_seconds=ttl_seconds, clock=clock
        )

    def for_workspace(self, workspace_id: str) -> list[DestinationRecord]:
        return self._workspaces.get_or_load(workspace_id, lambda: self._store.list_all(workspace_id))

    def quotas(self, workspace_id: str) -> Quotas:
        return self._quotas.get_or_load(
            workspace_id, lambda: self._quota_store.read(workspace_id, consistent=False).quotas
        )

    def destination(
        self, workspace_id: str, destination_id: str, *, at_least_version: int | None = None
    ) -> DestinationRecord | None:
        """The cached destination; reloaded (strongly consistent) when older than `at_least_version`, the version
        the dispatcher just read, so an update is never delivered with the configuration it replaced."""
        key = (workspace_id, destination_id)
        cached = self._destinations.get_or_load(
            key, lambda: self._store.get(workspace_id, destination_id, consistent=False)
        )
        if at_least_version is None or (cached is not None and cached.version >= at_least_version):
            return cached
        self._destinations.invalidate(key)
        return self._destinations.get_or_load(key, lambda: self._store.get(workspace_id, destination_id))

    def forget(self, workspace_id: str, destination_id: str) -> DestinationRecord | None:
        """Drop a deleted destination from the dispatcher's cache; returns what was cached (to drop its
        credentials too)."""
        return self._destinations.invalidate((workspace_id, destination_id))


class CompiledActions:
    """Filters and mappings compiled once per configuration version (bounded)."""

    def __init__(self, max_entries: int = 5000) -> None:
        self._filters: TTLCache[CompiledFilter] = TTLCache(max_entries=max_entries, ttl_seconds=86400)
        self._mappings: TTLCache[CompiledMapping] = TTLCache(max_entries=max_entries, ttl_seconds=86400)

    def filter(self, destination: DestinationRecord, action: ActionRecord) -> CompiledFilter:
        return self._filters.get_or_load(
            (destination.id, destination.version, action.id),
            lambda: compile_filter(EventFilter.model_validate(action.event_filter)),
        )

    def mapping(self, destination: DestinationRecord, action: ActionRecord) -> CompiledMapping:
        return self._mappings.get_or_load(
            (destination.id, destination.version, action.id),
            lambda: compile_mapping(PropertyMapping.model_validate(action.property_mapping)),
        )
