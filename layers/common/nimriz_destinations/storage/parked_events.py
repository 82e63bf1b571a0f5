"""Parked live events: what the LiveEvents DLQ consumer keeps of events fan-out could not handle, so they stay
visible and recoverable instead of expiring unseen in the queue.

Partition `PARKED#WS#<workspace>` holds a workspace's parked events, items `EVT#<id>` (ids are time-ordered:
newest first when read backwards). Events that name no workspace cannot be attributed to anyone: they go to
the operators' partition `PARKED#OPERATORS`, which no API route reads. Every item carries a TTL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import aws
from .batch import batch_get, batch_write
from .cursor import query_page

EVENT_PREFIX = "EVT#"
OPERATORS_PK = "PARKED#OPERATORS"


def parked_pk(workspace_id: str | None) -> str:
    return OPERATORS_PK if workspace_id is None else f"PARKED#WS#{workspace_id}"


@dataclass(slots=True)
class ParkedEvent:
    id: str
    workspace_id: str | None  # None: not attributable, kept for operators
    event_id: str | None  # from the body, when it has one
    event_type: str | None
    reason: str
    receive_count: int  # SQS's ApproximateReceiveCount when the message was parked
    source_message_id: str  # the LiveEvents queue message it came from
    parked_at: str
    body: str | None  # the raw message body, as the edge sent it; None when too large to keep


class ParkedEventStore:
    def __init__(self, table_name: str, *, retention_days: int) -> None:
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def put(self, event: ParkedEvent) -> None:
        # The id is stable per dead-lettered message: parking it again after a crash overwrites the same item.
        aws.dynamodb().put_item(TableName=self._table, Item=self._item(event))

    def list_page(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[ParkedEvent], str | None]:
        """Newest first; the cursor is the opaque, partition-checked LastEvaluatedKey."""
        pk = parked_pk(workspace_id)
        items, next_cursor = query_page(self._table, pk, EVENT_PREFIX, limit=limit, cursor=cursor)
        return [_from_item(item) for item in items], next_cursor

    def newest(self, workspace_id: str, *, limit: int) -> list[ParkedEvent]:
        events: list[ParkedEvent] = []
        cursor: str | None = None
        while len(events) < limit:
            page, cursor = self.list_page(workspace_id, limit=limit - len(events), cursor=cursor)
            events += page
            if not cursor:
                break
        return events

    def get_many(self, workspace_id: str, ids: Sequence[str]) -> list[ParkedEvent]:
        pk = parked_pk(workspace_id)
        return [_from_item(item) for item in batch_get(self._table, [(pk, EVENT_PREFIX + i) for i in ids])]

    def delete(self, workspace_id: str, ids: Sequence[str]) -> None:
        pk = parked_pk(workspace_id)
        batch_write(
            self._table, [{"DeleteRequest": {"Key": {"PK": {"S": pk}, "SK": {"S": EVENT_PREFIX + i}}}} for i in ids]
        )

    def _item(self, event: ParkedEvent) -> dict[str, Any]:
        fields = asdict(event)
        body = fields.pop("body")
        item: dict[str, Any] = {
            "PK": {"S": parked_pk(event.workspace_id)},
            "SK": {"S": EVENT_PREFIX + event.id},
            "doc": {"S": json.dumps(fields)},
            "ttl": {"N": str(int(time.time()) + self._retention_seconds)},
        }
        if body is not None:
            item["body"] = {"S": body}
        return item


def _from_item(item: dict[str, Any]) -> ParkedEvent:
    body = item.get("body", {}).get("S")
    return ParkedEvent(**json.loads(item["doc"]["S"]), body=body)
