"""Audit-log entries: partition `AUDIT#WS#<workspace>`, items `ENTRY#<id>` (ids are time-ordered: newest first
when read backwards), each with a TTL of the audit retention."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from .. import aws
from ..audit import Actor, Change, Target
from .cursor import decode_cursor, encode_cursor

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
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": ENTRY_PREFIX}},
            "Limit": limit,
            "ScanIndexForward": False,
        }
        if cursor:
            request["ExclusiveStartKey"] = decode_cursor(cursor, expected_pk=pk, sk_prefix=ENTRY_PREFIX)
        response = aws.dynamodb().query(**request)
        last = response.get("LastEvaluatedKey")
        entries = [_from_item(workspace_id, item) for item in response.get("Items", [])]
        return entries, encode_cursor(last) if last else None

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
