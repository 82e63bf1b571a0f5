"""The delivery log and the dead-letter store, per destination (partition `WS#<ws>#DEST#<destination>`).

Items: `DLV#<delivery id>` (one summary per delivery, newest first since ids are time-ordered),
`ATT#<delivery id>#<nn>` (one per attempt) and `DL#<delivery id>` (dead letters, replayable).
Writes are batched per dispatcher invocation; everything carries a TTL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import aws
from .cursor import decode_cursor, encode_cursor

SUMMARY_PREFIX = "DLV#"
ATTEMPT_PREFIX = "ATT#"
DEAD_LETTER_PREFIX = "DL#"
_BATCH_WRITE_LIMIT = 25
_BATCH_GET_LIMIT = 100


def delivery_pk(workspace_id: str, destination_id: str) -> str:
    return f"WS#{workspace_id}#DEST#{destination_id}"


@dataclass(slots=True)
class AttemptRecord:
    delivery_id: str
    attempt: int
    reason: str  # live | retry | replay | test
    outcome: str  # delivered | retry | permanent | skipped
    http_status: int | None
    duration_ms: int | None
    error_class: str | None
    message: str | None
    response_excerpt: str | None  # capped, secrets redacted
    request: dict[str, Any] | None  # method + redacted URL of the (first) request sent
    attempted_at: str
    next_attempt_at: str | None = None


@dataclass(slots=True)
class DeliverySummary:
    delivery_id: str
    destination_id: str
    action_id: str
    event_id: str
    event_type: str
    reason: str  # why the delivery exists: live | replay | test
    status: str  # retrying | delivered | dead_lettered | skipped
    attempts: int
    last_http_status: int | None
    last_error_class: str | None
    last_message: str | None
    created_at: str
    updated_at: str


@dataclass(slots=True)
class DeadLetter:
    delivery_id: str
    action_id: str
    event_id: str
    event_type: str
    error_class: str | None
    message: str | None
    http_status: int | None
    response_excerpt: str | None
    attempts: int
    dead_lettered_at: str
    job: dict[str, Any]  # the delivery job as queued, replayed with the same event


@dataclass(slots=True)
class DeliveryWrite:
    """Everything one dispatch produces for one delivery."""

    workspace_id: str
    summary: DeliverySummary
    attempt: AttemptRecord
    dead_letter: DeadLetter | None = None


class DeliveryLog:
    def __init__(self, table_name: str, *, retention_days: int = 30) -> None:
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    # -- dispatcher side -----------------------------------------------------------------------------------

    def statuses(self, keys: Sequence[tuple[str, str, str]]) -> dict[str, str]:
        """Current status per delivery id for (workspace, destination, delivery id) keys: one call per 100."""
        items = self._batch_get(
            [(delivery_pk(ws, dest), SUMMARY_PREFIX + delivery_id) for ws, dest, delivery_id in keys],
            projection="SK, #s",
            names={"#s": "status"},
        )
        return {item["SK"]["S"].removeprefix(SUMMARY_PREFIX): item["status"]["S"] for item in items}

    def write(self, writes: Iterable[DeliveryWrite]) -> None:
        expires = {"N": str(int(time.time()) + self._retention_seconds)}
        items: list[dict[str, Any]] = []
        for entry in writes:
            pk = delivery_pk(entry.workspace_id, entry.summary.destination_id)
            summary = entry.summary
            items.append(
                {
                    "PK": {"S": pk},
                    "SK": {"S": SUMMARY_PREFIX + summary.delivery_id},
                    "status": {"S": summary.status},
                    "action_id": {"S": summary.action_id},
                    "doc": {"S": json.dumps(asdict(summary))},
                    "ttl": expires,
                }
            )
            attempt = entry.attempt
            items.append(
                {
                    "PK": {"S": pk},
                    "SK": {"S": f"{ATTEMPT_PREFIX}{attempt.delivery_id}#{attempt.attempt:02d}"},
                    "doc": {"S": json.dumps(asdict(attempt))},
                    "ttl": expires,
                }
            )
            if entry.dead_letter is not None:
                items.append(
                    {
                        "PK": {"S": pk},
                        "SK": {"S": DEAD_LETTER_PREFIX + entry.dead_letter.delivery_id},
                        "doc": {"S": json.dumps(asdict(entry.dead_letter))},
                        "ttl": expires,
                    }
                )
        self._batch_write([{"PutRequest": {"Item": item}} for item in items])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), _BATCH_WRITE_LIMIT):
            pending: dict[str, Any] = {self._table: requests[start : start + _BATCH_WRITE_LIMIT]}
            for pause in (0.0, 0.05, 0.2, 0.5, 1.0):
                time.sleep(pause)
                pending = aws.dynamodb().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB kept items unprocessed; the batch will be retried")

    # -- API side ------------------------------------------------------------------------------------------

    def list_deliveries(
        self,
        workspace_id: str,
        destination_id: str,
        *,
        limit: int,
        cursor: str | None,
        action_id: str | None = None,
        status: str | None = None,
    ) -> tuple[list[DeliverySummary], str | None]:
        filters, names, values = [], {}, {}
        if action_id:
            filters.append("action_id = :action")
            values[":action"] = {"S": action_id}
        if status:
            filters.append("#s = :status")
            names["#s"] = "status"
            values[":status"] = {"S": status}
        docs, next_cursor = self._query(
            workspace_id, destination_id, SUMMARY_PREFIX, limit=limit, cursor=cursor,
            filter_expression=" AND ".join(filters), names=names, values=values, newest_first=True,
        )  # fmt: skip
        return [DeliverySummary(**doc) for doc in docs], next_cursor

    def get_delivery(
        self, workspace_id: str, destination_id: str, delivery_id: str
    ) -> tuple[DeliverySummary, list[AttemptRecord]] | None:
        response = aws.dynamodb().get_item(
            TableName=self._table,
            Key={"PK": {"S": delivery_pk(workspace_id, destination_id)}, "SK": {"S": SUMMARY_PREFIX + delivery_id}},
        )
        item = response.get("Item")
        if not item:
            return None
        docs, _ = self._query(workspace_id, destination_id, f"{ATTEMPT_PREFIX}{delivery_id}#", limit=100, cursor=None)
        return DeliverySummary(**json.loads(item["doc"]["S"])), [AttemptRecord(**doc) for doc in docs]

    def list_dead_letters(
        self, workspace_id: str, destination_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeadLetter], str | None]:
        docs, next_cursor = self._query(
            workspace_id, destination_id, DEAD_LETTER_PREFIX, limit=limit, cursor=cursor, newest_first=True
        )
        return [DeadLetter(**doc) for doc in docs], next_cursor

    def get_dead_letters(self, workspace_id: str, destination_id: str, delivery_ids: Sequence[str]) -> list[DeadLetter]:
        pk = delivery_pk(workspace_id, destination_id)
        items = self._batch_get([(pk, DEAD_LETTER_PREFIX + delivery_id) for delivery_id in delivery_ids])
        return [DeadLetter(**json.loads(item["doc"]["S"])) for item in items]

    def _batch_get(
        self, keys: Sequence[tuple[str, str]], projection: str | None = None, names: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_LIMIT):
            spec: dict[str, Any] = {
                "Keys": [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in unique[start : start + _BATCH_GET_LIMIT]]
            }
            if projection:
                spec["ProjectionExpression"] = projection
                spec["ExpressionAttributeNames"] = names or {}
            request: dict[str, Any] = {self._table: spec}
            while request:
                response = aws.dynamodb().batch_get_item(RequestItems=request)
                found += response.get("Responses", {}).get(self._table, [])
                request = dict(response.get("UnprocessedKeys") or {})
        return found

    def delete_dead_letters(self, workspace_id: str, destination_id: str, delivery_ids: Sequence[str]) -> None:
        pk = delivery_pk(workspace_id, destination_id)
        self._batch_write(
            [{"DeleteRequest": {"Key": {"PK": {"S": pk}, "SK": {"S": DEAD_LETTER_PREFIX + d}}}} for d in delivery_ids]
        )

    def _query(
        self,
        workspace_id: str,
        destination_id: str,
        prefix: str,
        *,
        limit: int,
        cursor: str | None,
        filter_expression: str = "",
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        pk = delivery_pk(workspace_id, destination_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}, **(values or {})},
            "Limit": limit,
            "ScanIndexForward": not newest_first,
        }
        if filter_expression:
            request["FilterExpression"] = filter_expression
        if names:
            request["ExpressionAttributeNames"] = names
        if cursor:
            request["ExclusiveStartKey"] = decode_cursor(cursor, expected_pk=pk, sk_prefix=prefix)
        response = aws.dynamodb().query(**request)
        docs = [json.loads(item["doc"]["S"]) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return docs, encode_cursor(last) if last else None
