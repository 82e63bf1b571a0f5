"""Each workspace's API Gateway API key (design §9.6): the authorizer returns its value as `usageIdentifierKey`,
and the key's usage plan throttles the workspace's requests. Made on the workspace's first request; kept apart from
the admin use cases so the authorizer loads only this."""

from __future__ import annotations

from ..cache import TTLCache
from ..limits import usage_key_name, usage_key_value
from ..observability import logger
from ..storage.limits import LimitsRecord, LimitsStore
from ..storage.usage_plans import UsagePlans

# A workspace's key, once made, stays: remembered for the life of the execution environment.
_KEPT_SECONDS = 24 * 3600


class UsageKeys:
    """Each workspace's API Gateway API key: what the authorizer returns as `usageIdentifierKey`."""

    def __init__(self, store: LimitsStore, plans: UsagePlans, stage: str) -> None:
        self._store = store
        self._plans = plans
        self._stage = stage
        self._made: TTLCache[str] = TTLCache(max_entries=10_000, ttl_seconds=_KEPT_SECONDS)

    def value_for(self, workspace_id: str) -> str:
        """The key's value, the key made and put in the default plan first on the workspace's first request (after
        that, one item read per workspace per execution environment)."""
        self._made.get_or_load(workspace_id, lambda: self.id_for(workspace_id, self._store.read(workspace_id)))
        return usage_key_value(self._stage, workspace_id)

    def id_for(self, workspace_id: str, record: LimitsRecord) -> str:
        if record.usage_key_id:
            return record.usage_key_id
        name, value = usage_key_name(self._stage, workspace_id), usage_key_value(self._stage, workspace_id)
        key_id = self._plans.add_key(name, value)
        try:
            self._store.set_usage_key(workspace_id, key_id)
        except Exception:
            # The key is made and in a plan, which is what the request needs; unrecorded, the next environment
            # to see the workspace finds it again (add_key is safe to repeat).
            logger.warning("could not record the workspace's usage key", extra={"workspace_id": workspace_id})
        return key_id
