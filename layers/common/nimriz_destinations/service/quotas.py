"""Quota use cases for the admin API: read a workspace's quotas, change them (audited in its audit log)."""

from __future__ import annotations

from collections.abc import Mapping

from ..audit import Actor, Target, diff
from ..quotas import Quotas, quotas_with
from ..storage.quotas import QuotaStore
from .audit import AuditLog


class QuotaService:
    def __init__(self, store: QuotaStore, audit: AuditLog) -> None:
        self._store = store
        self._audit = audit

    def get(self, workspace_id: str) -> Quotas:
        return self._store.read(workspace_id).quotas

    def update(self, workspace_id: str, changes: Mapping[str, int], actor: Actor) -> Quotas:
        """Set the given quotas. Lowering one below what the workspace uses keeps what it has; only saves that
        would add to it are refused (quotas.py)."""
        current = self.get(workspace_id)
        recorded = diff(current.as_dict(), quotas_with(current, changes).as_dict())
        if not recorded:
            return current
        target = Target(type="workspace", id=workspace_id)
        with self._audit.recorded(workspace_id, actor, "workspace.quotas_updated", target, recorded):
            return self._store.set_limits(workspace_id, changes)
