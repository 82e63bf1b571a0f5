"""Audit-log entries: partition `AUDIT#WS#<workspace>`, items `ENTRY#<id>` (ids are time-ordered: newest first
when read backwards), each with a TTL of the audit retention."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from .. import aws
from ..audit import Actor, Change, Target
from .cursor import query_page

ENTRY_PREFIX = "ENTRY#"


def audit_pk(workspace_id: str) -> str:
    return f"AUDIT#WS#{workspace_id}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    workspace_id: str
    at: str
    actor: Actor
    action: str
    target: Target
    changes: list[Change]


class AuditStore:
    def __init__(self, table_name: str, *, retention_days: int) -> None:
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def put(self, entry: AuditEntry) -> None:
        aws.dynamodb().put_item(TableName=self._table, Item=self._item(entry))

    def delete(self, entry: AuditEntry) -> None:
        aws.dynamodb().delete_item(TableName=self._table, Key=_key(entry.workspace_id, entry.id))

    def list_page(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[AuditEntry], str | None]:
        """Newest first; the cursor is the opaque, partition-checked LastEvaluatedKey."""
        pk = audit_pk(workspace_id)
        items, next_cursor = query_page(self._table, pk, ENTRY_PREFIX, limit=limit, cursor=cursor)
        return [_from_item(workspace_id, item) for item in items], next_cursor

    def _item(self, entry: AuditEntry) -> dict[str, Any]:
        doc = asdict(entry)
        del doc["id"], doc["workspace_id"]  # both are in the key
        return {
            **_key(entry.workspace_id, entry.id),
            "doc": {"S": json.dumps(doc, separators=(",", ":"), ensure_ascii=False)},
            "ttl": {"N": str(int(time.time()) + self._retention_seconds)},
        }


def _key(workspace_id: str, entry_id: str) -> dict[str, Any]:
    return {"PK": {"S": audit_pk(workspace_id)}, "SK": {"S": ENTRY_PREFIX + entry_id}}


def _from_item(workspace_id: str, item: dict[str, Any]) -> AuditEntry:
    doc = json.loads(item["doc"]["S"])
    return AuditEntry(
        id=item["SK"]["S"].removeprefix(ENTRY_PREFIX),
        workspace_id=workspace_id,
        at=doc["at"],
        actor=Actor(**doc["actor"]),
        action=doc["action"],
        target=Target(**doc["target"]),
        changes=[Change(**change) for change in doc["changes"]],
    )
