"""The audit log: every configuration change of a workspace, who made it, when, and a redacted diff.

`recorded` is how a change is audited: the entry is written before the change is made, so a change never
happens unaudited (failing to write the entry fails the change, nothing changed); when the change then fails or
turns out not to be needed, the entry is withdrawn. Only if that removal fails too does an entry outlive a change
that did not happen, and that is logged as an error with the entry's id.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime

from ..audit import Actor, Change, Target
from ..clock import iso_utc
from ..ids import audit_entry_id
from ..observability import logger
from ..storage.audit import AuditEntry, AuditStore


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def record(self, workspace_id: str, actor: Actor, action: str, target: Target, changes: list[Change]) -> AuditEntry:
        now = datetime.now(UTC)
        entry = AuditEntry(
            id=audit_entry_id(int(now.timestamp() * 1000)),
            workspace_id=workspace_id,
            at=iso_utc(now),
            actor=actor,
            action=action,
            target=target,
            changes=changes,
        )
        self._store.put(entry)
        return entry

    @contextmanager
    def recorded(
        self, workspace_id: str, actor: Actor, action: str, target: Target, changes: list[Change]
    ) -> Iterator[AuditEntry]:
        """Audit the change made inside the `with` block (see the module docstring)."""
        entry = self.record(workspace_id, actor, action, target, changes)
        try:
            yield entry
        except BaseException:
            self.withdraw(entry)
            raise

    def recorded_if(
        self, actor: Actor | None, workspace_id: str, action: str, target: Target, changes: list[Change]
    ) -> AbstractContextManager[AuditEntry | None]:
        """`recorded` when there is an actor to audit and something changes; otherwise nothing (None)."""
        if actor is None or not changes:
            return nullcontext(None)
        return self.recorded(workspace_id, actor, action, target, changes)

    def narrow(self, entry: AuditEntry, changes: list[Change]) -> None:
        """A change was made only in part: its entry is replaced by one of the `changes` made (none: withdrawn).
        The new entry is written before the old one goes, so the part that was made is never unaudited."""
        if changes == entry.changes:
            return
        if changes:
            self.record(entry.workspace_id, entry.actor, entry.action, entry.target, changes)
        self.withdraw(entry)

    def withdraw(self, entry: AuditEntry) -> None:
        """Remove the entry of a change that was not made after all (it failed, or was no longer needed)."""
        try:
            self._store.delete(entry)
        except Exception:
            logger.exception("could not remove the audit entry of a change not made", extra={"audit_entry": entry.id})

    def list_page(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[AuditEntry], str | None]:
        return self._store.list_page(workspace_id, limit=limit, cursor=cursor)
