"""The delivery log and the dead-letter store, per destination, spread over LOG_SHARDS partitions
`WS#<ws>#DEST#<destination>#<shard>`: a delivery's items all live in the shard its id picks (`delivery_key`), so one
destination's writes spread evenly over them (design §3; docs/cost.md, "Scale", for how many a hot destination needs).

Items: `DLV#<delivery id>` (one summary per delivery, newest first since ids are time-ordered; its `log` embeds
every attempt's entry) and `DL#<delivery id>` (dead letters, replayable). Lists read every shard and merge them
newest first (`shard_pages.py`).

The summary is also the delivery's state for the dispatcher, which alone writes it (storage/delivery_states.py,
design §2); a summary without its `doc` holds only a hold, a lease or an unrecorded send, and is not listed yet.
Everything carries a TTL.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from .. import aws
from ..ids import is_id
from .batch import batch_get, batch_write
from .shard_pages import query_shards_page

SUMMARY_PREFIX = "DLV#"
DEAD_LETTER_PREFIX = "DL#"
FINISHED_STATUSES = frozenset({"delivered", "dead_lettered", "skipped"})
HELD = "held"  # kept while its destination is paused (design §2.2)
# What a recovery may send again: such a record keeps its job (`job`, the event without any credential).
RESENDABLE_STATUSES = frozenset({"retrying", HELD, "dead_lettered", "skipped"})
# The sparse index of held deliveries (template.yaml), one partition per destination, in occurred_at order.
HELD_INDEX = "held"
# Partitions of one destination's delivery log. Changing it moves every delivery to another partition: the log
# written before would no longer be read.
LOG_SHARDS = 32


def destination_log_pk(workspace_id: str, destination_id: str) -> str:
    """The destination's own partition: its hourly counters (storage/counters.py); its log's shards are named
    after it, and list cursors name it."""
    return f"WS#{workspace_id}#DEST#{destination_id}"


def log_shard_pks(workspace_id: str, destination_id: str) -> list[str]:
    return [f"{destination_log_pk(workspace_id, destination_id)}#{shard}" for shard in range(LOG_SHARDS)]


def delivery_pk(workspace_id: str, destination_id: str, delivery_id: str) -> str:
    """The partition of every item of a delivery: the shard a hash (CRC-32) of its id picks, so deliveries spread
    evenly over the shards whatever their ids look like."""
    return f"{destination_log_pk(workspace_id, destination_id)}#{zlib.crc32(delivery_id.encode()) % LOG_SHARDS}"


def held_pk(workspace_id: str, destination_id: str) -> str:
    return f"HELD#{destination_log_pk(workspace_id, destination_id)}"


def held_index_key(workspace_id: str, destination_id: str, delivery_id: str, occurred_millis: int) -> dict[str, Any]:
    """A held summary's attributes in the held index: its destination, then the event's time (zero-padded Unix ms,
    so text order is time order) and the delivery id."""
    return {
        "held_pk": {"S": held_pk(workspace_id, destination_id)},
        "held_sk": {"S": f"{occurred_millis:013d}#{delivery_id}"},
    }


def delivery_key(workspace_id: str, destination_id: str, delivery_id: str, sort_key: str) -> dict[str, Any]:
    """The key of one item of a delivery: the one way any is built."""
    return {"PK": {"S": delivery_pk(workspace_id, destination_id, delivery_id)}, "SK": {"S": sort_key}}


def summary_key(workspace_id: str, destination_id: str, delivery_id: str) -> dict[str, Any]:
    return delivery_key(workspace_id, destination_id, delivery_id, SUMMARY_PREFIX + delivery_id)


def dead_letter_key(workspace_id: str, destination_id: str, delivery_id: str) -> dict[str, Any]:
    return delivery_key(workspace_id, destination_id, delivery_id, DEAD_LETTER_PREFIX + delivery_id)


@dataclass(slots=True)
class AttemptRecord:
    """One entry of a delivery's log: an attempt (a request on the wire, numbered from 1 like
    X-Nim-Delivery-Attempt), or a failure before any request went out that schedules another try (no number)."""

    delivery_id: str
    attempt: int | None
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
    status: str  # retrying | held | delivered | dead_lettered | skipped
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


class DeliveryLog:
    """The log and the dead letters as the API reads them (and replay removes dead letters)."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

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
        # A summary without its document holds only a hold, a lease or an unrecorded send: not listed yet.
        filters, names, values = ["attribute_exists(#doc)"], {"#doc": "doc"}, {}
        if action_id:
            filters.append("action_id = :action")
            values[":action"] = {"S": action_id}
        if status:
            filters.append("#s = :status")
            names["#s"] = "status"
            values[":status"] = {"S": status}
        items, next_cursor = self._newest_first(
            workspace_id, destination_id, SUMMARY_PREFIX, limit=limit, cursor=cursor,
            filter_expression=" AND ".join(filters), names=names, values=values,
        )  # fmt: skip
        return [summary_of(item) for item in items], next_cursor

    def get_delivery(
        self, workspace_id: str, destination_id: str, delivery_id: str
    ) -> tuple[DeliverySummary, list[AttemptRecord]] | None:
        """The delivery and its attempts; None when there is none, known without a request when an id cannot be one."""
        if not (is_id(destination_id) and is_id(delivery_id)):
            return None
        response = aws.dynamodb().get_item(
            TableName=self._table, Key=summary_key(workspace_id, destination_id, delivery_id)
        )
        item = response.get("Item")
        if not item or "doc" not in item:
            return None
        docs = [json.loads(entry["S"]) for entry in item.get("log", {}).get("L", [])]
        unset = dict.fromkeys(field.name for field in fields(AttemptRecord))  # an embedded entry omits empty fields
        entries = [AttemptRecord(**{**unset, **doc, "delivery_id": delivery_id}) for doc in docs]
        return summary_of(item), entries

    def list_dead_letters(
        self, workspace_id: str, destination_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeadLetter], str | None]:
        items, next_cursor = self._newest_first(
            workspace_id, destination_id, DEAD_LETTER_PREFIX, limit=limit, cursor=cursor
        )
        return [DeadLetter(**json.loads(item["doc"]["S"])) for item in items], next_cursor

    def get_dead_letters(self, workspace_id: str, destination_id: str, delivery_ids: Sequence[str]) -> list[DeadLetter]:
        keys = [dead_letter_key(workspace_id, destination_id, delivery_id) for delivery_id in delivery_ids]
        items = batch_get(self._table, [(key["PK"]["S"], key["SK"]["S"]) for key in keys])
        return [DeadLetter(**json.loads(item["doc"]["S"])) for item in items]

    def delete_dead_letters(self, workspace_id: str, destination_id: str, delivery_ids: Sequence[str]) -> None:
        batch_write(
            self._table,
            [{"DeleteRequest": {"Key": dead_letter_key(workspace_id, destination_id, d)}} for d in delivery_ids],
        )

    def _newest_first(
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
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the destination's items under `prefix` across every shard of its log, newest first."""
        return query_shards_page(
            self._table,
            log_shard_pks(workspace_id, destination_id),
            cursor_pk=destination_log_pk(workspace_id, destination_id),
            sk_prefix=prefix,
            limit=limit,
            cursor=cursor,
            filter_expression=filter_expression,
            names=names,
            values=values,
        )


def summary_of(item: dict[str, Any]) -> DeliverySummary:
    """The summary an item shows: its document, with the status the record has (holding a delivery that had a record
    changes only the status, design §2.2)."""
    summary = DeliverySummary(**json.loads(item["doc"]["S"]))
    summary.status = item.get("status", {}).get("S", summary.status)
    return summary
