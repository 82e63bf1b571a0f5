"""Request limits for the admin API (design §9.6): read and set a workspace's limits, audited in its audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..audit import Actor, Target, diff
from ..limits import DEFAULT_LIMITS, Limits
from ..storage.limits import LimitsRecord, LimitsStore
from ..storage.usage_plans import UsagePlans
from .usage_keys import UsageKeys

if TYPE_CHECKING:
    from .audit import AuditLog


class LimitsService:
    def __init__(self, store: LimitsStore, plans: UsagePlans, keys: UsageKeys, audit: AuditLog) -> None:
        self._store = store
        self._plans = plans
        self._keys = keys
        self._audit = audit

    def get(self, workspace_id: str) -> Limits:
        return self._current(self._store.read(workspace_id))

    def update(self, workspace_id: str, limits: Limits, actor: Actor) -> Limits:
        """Set the workspace's limits: its own plan's throttle, that plan made (and its key moved there) the first
        time. A workspace keeps its own plan once it has one, even when set back to the defaults."""
        record = self._store.read(workspace_id)
        recorded = diff(self._current(record).as_dict(), limits.as_dict())
        if not recorded:
            return limits
        target = Target(type="workspace", id=workspace_id)
        with self._audit.recorded(workspace_id, actor, "workspace.limits_updated", target, recorded):
            if record.usage_plan_id:
                self._plans.set_limits(record.usage_plan_id, limits)
            else:
                key_id = self._keys.id_for(workspace_id, record)
                plan_id = self._plans.create_plan(workspace_id, limits)
                self._plans.move_key_from_default(key_id, plan_id)
                self._store.set_usage_plan(workspace_id, plan_id)
        return limits

    def _current(self, record: LimitsRecord) -> Limits:
        return self._plans.limits(record.usage_plan_id) if record.usage_plan_id else DEFAULT_LIMITS
