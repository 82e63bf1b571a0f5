"""The delivery log and the dead-letter store, per destination, spread over LOG_SHARDS partitions
`WS#<ws>#DEST#<destination>#<shard>`: a delivery's items all live in the shard its id picks (`delivery_key`), so one
destination's writes spread evenly over them (design §3; docs/cost.md, "Scale", for how many a hot destination needs).

Items: `DLV#<delivery id>` (one summary per delivery, newest first since ids are time-ordered; its `log` embeds
every attempt's entry) and `DL#<delivery id>` (dead letters, replayable). Lists read every shard and merge them
newest first (`shard_pages.py`).

Searches (design §3, "Searching the delivery log") read a summary index where their filter has one: `event_key`
(the destination and a hash of the event id: one small partition per event) and `status_key` (the destination, the
delivery's shard and its status, for every status but `delivered`, the common one, whose search reads the log
itself); a time range is a range of ids; the other filters are filter expressions.

The summary is also the delivery's state for the dispatcher, which alone writes it (storage/delivery_states.py,
design §2); a summary without its `doc` holds only a hold, a lease or an unrecorded send, and is not listed yet.
Everything carries a TTL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from .. import aws
from ..ids import is_id, time_order_prefix
from .batch import batch_get, batch_write
from .shard_pages import Index, query_shards_page

SUMMARY_PREFIX = "DLV#"
DEAD_LETTER_PREFIX = "DL#"
FINISHED_STATUSES = frozenset({"delivered", "dead_lettered", "skipped"})
HELD = "held"  # kept while its destination is paused (design §2.2)
THROTTLED = "throttled"  # waiting for its destination's delivery rate, no attempt used (design §8.11)
# What a recovery may send again: such a record keeps its job (`job`, the event without any credential).
RESENDABLE_STATUSES = frozenset({"retrying", HELD, "dead_lettered", "skipped"})
# The sparse index of held deliveries (template.yaml), one partition per destination, in occurred_at order.
HELD_INDEX = "held"
# Partitions of one destination's delivery log. Changing it moves every delivery to another partition: the log
# written before would no longer be read.
LOG_SHARDS = 32
# The summaries' indexes (template.yaml, DestinationsTable): both sort by the table's SK and project the attributes
# searches filter on.
EVENT_INDEX = Index("DeliveriesByEvent", "event_key")
STATUS_INDEX = Index("DeliveriesByStatus", "status_key")
# Most deliveries end delivered on their first attempt: indexing it would add an index write to most deliveries,
# and a search for it reads mostly matches in the log itself.
UNINDEXED_STATUS = "delivered"
# Threads reading a destination's shards for its waiting deliveries (the metrics route).
WAITING_QUERY_THREADS = 8


def destination_log_pk(workspace_id: str, destination_id: str) -> str:
    """The destination's own partition: its hourly counters (storage/counters.py); its log's shards are named
    after it, and list cursors name it."""
    return f"WS#{workspace_id}#DEST#{destination_id}"


def log_shard_pks(workspace_id: str, destination_id: str) -> list[str]:
    return [f"{destination_log_pk(workspace_id, destination_id)}#{shard}" for shard in range(LOG_SHARDS)]


def log_shard(delivery_id: str) -> int:
    """The shard of a delivery: a hash (CRC-32) of its id picks it, so deliveries spread evenly over the shards
    whatever their ids look like."""
    return zlib.crc32(delivery_id.encode()) % LOG_SHARDS


def delivery_pk(workspace_id: str, destination_id: str, delivery_id: str) -> str:
    """The partition of every item of a delivery: its shard's."""
    return f"{destination_log_pk(workspace_id, destination_id)}#{log_shard(delivery_id)}"


# The indexes' keys start with the destination id alone: a summary's every byte is paid on each of its writes (a
# first attempt's record stays one write unit), and a destination id, made by the service, names one workspace's
# destination, which a search checks before reading.


def event_index_key(destination_id: str, event_id: str) -> str:
    """The event index's partition of an event's deliveries to a destination. A hash of the event id (128 bits of
    SHA-256): ids are any string the edge sent (design §4), and a key has a length limit (design §9.4)."""
    digest = hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).digest()[:16]
    return f"{destination_id}#{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def status_index_key(destination_id: str, shard: int, status: str) -> str:
    """The status index's partition of a destination's deliveries in one log shard and one status."""
    return f"{destination_id}#{shard}#{status}"


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


@dataclass(frozen=True, slots=True)
class Waiting:
    throttled: int  # deliveries waiting for the destination's delivery rate (status `throttled`)
    oldest_delivery_id: str | None  # the oldest waiting for a next try (`throttled` or `retrying`)


@dataclass(frozen=True, slots=True)
class DeliverySearch:
    """What a list of the delivery log keeps: every filter given (None: any). `since` (included) and `until`
    (excluded) bound the time a delivery's id carries, which the log sorts by."""

    action_id: str | None = None
    status: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _id_time_bound(moment: datetime | None) -> str | None:
    """The sort key every delivery id made at `moment` or later sorts at or above, every earlier one below."""
    if moment is None:
        return None
    # Before 1970 every id is later (their time is unsigned); years up to 9999 fit the 48 bits.
    return SUMMARY_PREFIX + time_order_prefix(max(0, math.ceil(moment.timestamp() * 1000)))


class DeliveryLog:
    """The log and the dead letters as the API reads them (and replay removes dead letters)."""

    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def list_deliveries(
        self, workspace_id: str, destination_id: str, search: DeliverySearch, *, limit: int, cursor: str | None
    ) -> tuple[list[DeliverySummary], str | None]:
        """One page of the deliveries `search` keeps, newest first: full unless it is the last (SearchTooBroad when
        the read budget cannot fill it, shard_pages.py)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        filters = []
        index = None
        if search.event_id is not None:
            index = EVENT_INDEX
            shard_pks = [event_index_key(destination_id, search.event_id)]
        elif search.status is not None and search.status != UNINDEXED_STATUS:
            index = STATUS_INDEX
            shard_pks = [status_index_key(destination_id, shard, search.status) for shard in range(LOG_SHARDS)]
        else:
            # A summary without its document holds only a hold, a lease or an unrecorded send: not listed yet
            # (the indexes hold only summaries with one).
            shard_pks = log_shard_pks(workspace_id, destination_id)
            filters.append("attribute_exists(#doc)")
            names["#doc"] = "doc"
        if search.status is not None and index is not STATUS_INDEX:
            filters.append("#status = :status")
            names["#status"] = "status"
            values[":status"] = {"S": search.status}
        for attribute, value in (("action_id", search.action_id), ("event_type", search.event_type)):
            if value is not None:
                filters.append(f"{attribute} = :{attribute}")
                values[f":{attribute}"] = {"S": value}
        items, next_cursor = query_shards_page(
            self._table,
            shard_pks,
            cursor_pk=destination_log_pk(workspace_id, destination_id),
            sk_prefix=SUMMARY_PREFIX,
            limit=limit,
            cursor=cursor,
            index=index,
            lowest=_id_time_bound(search.since),
            above=_id_time_bound(search.until),
            filter_expression=" AND ".join(filters),
            names=names,
            values=values,
        )
        if index is not None:  # an index holds the keys and what searches filter on: the documents are the table's
            found = {
                item["SK"]["S"]: item
                for item in batch_get(self._table, [(item["PK"]["S"], item["SK"]["S"]) for item in items])
            }
            items = [found[item["SK"]["S"]] for item in items if item["SK"]["S"] in found]
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

    def waiting(self, destination_id: str, *, count_limit: int) -> Waiting:
        """The destination's deliveries waiting for a next try, from the status index (design §8.11): how many are
        `throttled` (counted up to `count_limit`) and the oldest delivery id of those and of the `retrying` ones. Per
        shard, a keys-only Query counting the throttled partition and one item of the retrying partition, oldest
        first; the destination id must be one the caller checked belongs to the workspace."""

        def shard(number: int) -> tuple[int, list[str]]:
            counted, oldest = 0, []
            for status in (THROTTLED, "retrying"):
                counting = status == THROTTLED
                request: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": STATUS_INDEX.name,
                    "KeyConditionExpression": "status_key = :key",
                    "ExpressionAttributeValues": {":key": {"S": status_index_key(destination_id, number, status)}},
                    "ProjectionExpression": "SK",
                    "Limit": count_limit if counting else 1,
                }
                while True:
                    answer = client.query(**request)
                    items = answer.get("Items", [])
                    if items and "ExclusiveStartKey" not in request:  # the first page starts with the oldest
                        oldest.append(items[0]["SK"]["S"])
                    counted += len(items) if counting else 0
                    if not counting or counted >= count_limit or "LastEvaluatedKey" not in answer:
                        break
                    request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
            return counted, oldest

        client = aws.dynamodb()
        with ThreadPoolExecutor(max_workers=WAITING_QUERY_THREADS) as pool:
            shards = list(pool.map(shard, range(LOG_SHARDS)))
        oldest = min((sk for _, found in shards for sk in found), default=None)
        return Waiting(
            throttled=min(count_limit, sum(counted for counted, _ in shards)),
            oldest_delivery_id=oldest.removeprefix(SUMMARY_PREFIX) if oldest else None,
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
