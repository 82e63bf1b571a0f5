"""The delivery log and the dead-letter store, per destination, spread over LOG_SHARDS partitions
`WS#<ws>#DEST#<destination>#<shard>`: a delivery's items all live in the shard its id picks (`delivery_key`), so one
destination's writes spread evenly over them (design §3; docs/cost.md, "Scale", for how many a hot destination needs).

Items: `DLV#<delivery id>` (one summary per delivery, newest first since ids are time-ordered),
`ATT#<delivery id>#<nn>` (one per attempt, i.e. per send) and `DL#<delivery id>` (dead letters, replayable). Lists
read every shard and merge them newest first (`shard_pages.py`).

The summary is the delivery's source of truth for the dispatcher: besides the JSON `doc` the API reads it
carries `status`, `attempts` (sends recorded), `next_attempt_at` (epoch s) and, while a dispatcher holds the
delivery, `lease_owner` + `lease_until` (epoch s). A dispatcher takes the lease before sending and records the
outcome (summary, attempt, dead letter) in one transaction conditional on its lease and on the send count, so a
late or duplicate copy of a job can never move a delivery backwards or overwrite an attempt. A summary that
only holds a lease (first attempt in flight) has no `doc` and is not listed yet. Everything carries a TTL.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import aws
from ..ids import is_id
from .batch import batch_get, batch_write
from .cursor import query_page
from .shard_pages import query_shards_page

SUMMARY_PREFIX = "DLV#"
ATTEMPT_PREFIX = "ATT#"
DEAD_LETTER_PREFIX = "DL#"
FINISHED_STATUSES = frozenset({"delivered", "dead_lettered", "skipped"})
# Calls per record or release before giving up (each call has the client's own retries as well): a record that
# cannot be written costs a lease period and counts its send as unrecorded, so it is worth a few more tries.
RECORD_CALLS = 5


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


def delivery_key(workspace_id: str, destination_id: str, delivery_id: str, sort_key: str) -> dict[str, Any]:
    """The key of one item of a delivery (`summary_sk`, `attempt_sk`, `dead_letter_sk`): the one way any is built."""
    return {"PK": {"S": delivery_pk(workspace_id, destination_id, delivery_id)}, "SK": {"S": sort_key}}


def summary_sk(delivery_id: str) -> str:
    return f"{SUMMARY_PREFIX}{delivery_id}"


def attempt_sk(delivery_id: str, attempt: int) -> str:
    return f"{ATTEMPT_PREFIX}{delivery_id}#{attempt:02d}"


def dead_letter_sk(delivery_id: str) -> str:
    return f"{DEAD_LETTER_PREFIX}{delivery_id}"


def _summary_key(workspace_id: str, destination_id: str, delivery_id: str) -> dict[str, Any]:
    return delivery_key(workspace_id, destination_id, delivery_id, summary_sk(delivery_id))


def _number(epoch_seconds: float) -> dict[str, str]:
    return {"N": f"{epoch_seconds:.3f}"}


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
    """Everything one dispatch records for one delivery, written in one transaction.

    `attempts` are the attempt items this record adds (none for a skip or a job parked without sending; two when
    it also records an earlier holder's unrecorded attempt); `sends_before` is the summary's `attempts` the
    record was planned from, so a record made from a stale view of the delivery is refused.
    """

    workspace_id: str
    summary: DeliverySummary
    attempts: list[AttemptRecord]
    sends_before: int
    next_attempt_at: float | None = None  # epoch seconds: no copy of the job may send before it
    dead_letter: DeadLetter | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """This copy of a job may send: nobody else holds the delivery until `until` (epoch seconds)."""

    owner: str
    until: float
    sends: int  # sends recorded on the delivery so far
    # An earlier holder's lease ran out without a record or a release: it may have sent (e.g. its record could
    # not be written). That attempt is counted (recorded with this holder's record) and not repeated blindly.
    unrecorded: bool


class LeaseRefusal(StrEnum):
    FINISHED = "finished"  # delivered, dead-lettered or skipped: never send again
    LEASED = "leased"  # another copy holds the delivery
    EARLY = "early"  # the next attempt is scheduled later


@dataclass(frozen=True, slots=True)
class Refused:
    reason: LeaseRefusal
    until: float | None = None  # epoch seconds: when the other lease ends / the next attempt is due


class DeliveryLog:
    def __init__(self, table_name: str, *, retention_days: int = 30) -> None:
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    # -- dispatcher side -----------------------------------------------------------------------------------

    def lease(
        self,
        workspace_id: str,
        destination_id: str,
        delivery_id: str,
        *,
        owner: str,
        now: float,
        until: float,
        honour_schedule: bool = True,
    ) -> Lease | Refused:
        """Take the delivery for `owner` until `until` with one conditional UpdateItem on its summary (creating
        it when absent): refused when the delivery is finished, leased by someone else, or (`honour_schedule`)
        when its next attempt is due later."""
        client = aws.dynamodb()
        condition = (
            "(attribute_not_exists(#status) OR NOT (#status IN (:delivered, :dead_lettered, :skipped)))"
            " AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
        )
        if honour_schedule:
            condition += " AND (attribute_not_exists(next_attempt_at) OR next_attempt_at <= :now)"
        try:
            response = client.update_item(
                TableName=self._table,
                Key=_summary_key(workspace_id, destination_id, delivery_id),
                UpdateExpression="SET lease_owner = :owner, lease_until = :until, #ttl = if_not_exists(#ttl, :ttl)",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": _number(until),
                    ":now": _number(now),
                    ":ttl": {"N": str(int(now) + self._retention_seconds)},
                    **{f":{status}": {"S": status} for status in FINISHED_STATUSES},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as refused:
            item: dict[str, Any] = refused.response.get("Item") or {}  # type: ignore[assignment]
            return _refusal(item, now)
        previous = response.get("Attributes") or {}
        sends = int(previous["attempts"]["N"]) if "attempts" in previous else 0
        # An owner still set means its lease expired without a record or a release.
        return Lease(owner, until, sends, unrecorded="lease_owner" in previous)

    def release(self, workspace_id: str, destination_id: str, delivery_id: str, *, owner: str) -> None:
        """Give the delivery back unsent: the next copy may send at once, and nothing is counted. Also the way
        to undo a lease whose answer was lost (it may have been taken). Tried up to RECORD_CALLS times."""
        client = aws.dynamodb()
        failure: Exception | None = None
        for _ in range(RECORD_CALLS):
            try:
                client.update_item(
                    TableName=self._table,
                    Key=_summary_key(workspace_id, destination_id, delivery_id),
                    UpdateExpression="REMOVE lease_owner, lease_until",
                    ConditionExpression="lease_owner = :owner",
                    ExpressionAttributeValues={":owner": {"S": owner}},
                )
                return
            except client.exceptions.ConditionalCheckFailedException:
                return  # not (or no longer) ours
            except (ClientError, BotoCoreError) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def record(self, write: DeliveryWrite, *, owner: str) -> bool:
        """Write the summary, the new attempt items and the dead letter in ONE transaction, only while `owner`
        still holds the lease and the summary still counts `sends_before` sends; an attempt item is never
        overwritten. False when that condition failed (nothing written): the delivery moved on without us.

        Tried up to RECORD_CALLS times (each call with the client's own retries); an answer lost after the
        transaction committed is recognised by the summary's `recorded_by`.
        """
        client = aws.dynamodb()
        items: Any = self._transaction(write, owner)
        failure: Exception | None = None
        for _ in range(RECORD_CALLS):
            try:
                client.transact_write_items(TransactItems=items)
                return True
            except ClientError as exc:
                reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons:
                    return self._recorded_by(write, owner)
                failure = exc
            except BotoCoreError as exc:  # e.g. a timeout: the transaction may or may not have committed
                failure = exc
        assert failure is not None
        raise failure

    def _transaction(self, write: DeliveryWrite, owner: str) -> list[dict[str, Any]]:
        summary = write.summary
        pk = delivery_pk(write.workspace_id, summary.destination_id, summary.delivery_id)
        expires = {"N": str(int(time.time()) + self._retention_seconds)}
        summary_item: dict[str, Any] = {
            "PK": {"S": pk},
            "SK": {"S": summary_sk(summary.delivery_id)},
            "status": {"S": summary.status},
            "attempts": {"N": str(summary.attempts)},
            "action_id": {"S": summary.action_id},
            "doc": {"S": json.dumps(asdict(summary))},
            "recorded_by": {"S": owner},
            "ttl": expires,
        }
        if write.next_attempt_at is not None:
            summary_item["next_attempt_at"] = _number(write.next_attempt_at)
        # Conditional on this holder's lease and on the send count the record was planned from.
        condition = "lease_owner = :owner AND " + (
            "attempts = :before" if write.sends_before else "attribute_not_exists(attempts)"
        )
        values: dict[str, Any] = {":owner": {"S": owner}}
        if write.sends_before:
            values[":before"] = {"N": str(write.sends_before)}
        # A Put replaces the whole summary: the lease attributes go with it.
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": summary_item,
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        for attempt in write.attempts:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "PK": {"S": pk},
                            "SK": {"S": attempt_sk(attempt.delivery_id, attempt.attempt)},
                            "doc": {"S": json.dumps(asdict(attempt))},
                            "ttl": expires,
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
            )
        if write.dead_letter is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "PK": {"S": pk},
                            "SK": {"S": dead_letter_sk(write.dead_letter.delivery_id)},
                            "doc": {"S": json.dumps(asdict(write.dead_letter))},
                            "ttl": expires,
                        },
                    }
                }
            )
        return items

    def _recorded_by(self, write: DeliveryWrite, owner: str) -> bool:
        """After a refused transaction: had an earlier call of ours committed it (its answer lost)?"""
        item = aws.dynamodb().get_item(
            TableName=self._table,
            Key=_summary_key(write.workspace_id, write.summary.destination_id, write.summary.delivery_id),
            ConsistentRead=True,
            ProjectionExpression="recorded_by",
        ).get("Item") or {}  # fmt: skip
        return item.get("recorded_by", {}).get("S") == owner

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
        # A summary without its document only holds the lease of a first attempt in flight: not listed yet.
        filters, names, values = ["attribute_exists(#doc)"], {"#doc": "doc"}, {}
        if action_id:
            filters.append("action_id = :action")
            values[":action"] = {"S": action_id}
        if status:
            filters.append("#s = :status")
            names["#s"] = "status"
            values[":status"] = {"S": status}
        docs, next_cursor = self._newest_first(
            workspace_id, destination_id, SUMMARY_PREFIX, limit=limit, cursor=cursor,
            filter_expression=" AND ".join(filters), names=names, values=values,
        )  # fmt: skip
        return [DeliverySummary(**doc) for doc in docs], next_cursor

    def get_delivery(
        self, workspace_id: str, destination_id: str, delivery_id: str
    ) -> tuple[DeliverySummary, list[AttemptRecord]] | None:
        """The delivery and its attempts; None when there is none, known without a request when an id cannot be one."""
        if not (is_id(destination_id) and is_id(delivery_id)):
            return None
        response = aws.dynamodb().get_item(
            TableName=self._table, Key=_summary_key(workspace_id, destination_id, delivery_id)
        )
        item = response.get("Item")
        if not item or "doc" not in item:
            return None
        attempts, _ = query_page(
            self._table,
            delivery_pk(workspace_id, destination_id, delivery_id),
            f"{ATTEMPT_PREFIX}{delivery_id}#",
            limit=100,
            cursor=None,
            newest_first=False,
        )
        return DeliverySummary(**json.loads(item["doc"]["S"])), [AttemptRecord(**_doc(a)) for a in attempts]

    def list_dead_letters(
        self, workspace_id: str, destination_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeadLetter], str | None]:
        docs, next_cursor = self._newest_first(
            workspace_id, destination_id, DEAD_LETTER_PREFIX, limit=limit, cursor=cursor
        )
        return [DeadLetter(**doc) for doc in docs], next_cursor

    def get_dead_letters(self, workspace_id: str, destination_id: str, delivery_ids: Sequence[str]) -> list[DeadLetter]:
        keys = [delivery_key(workspace_id, destination_id, d, dead_letter_sk(d)) for d in delivery_ids]
        items = batch_get(self._table, [(key["PK"]["S"], key["SK"]["S"]) for key in keys])
        return [DeadLetter(**_doc(item)) for item in items]

    def delete_dead_letters(self, workspace_id: str, destination_id: str, delivery_ids: Sequence[str]) -> None:
        batch_write(
            self._table,
            [
                {"DeleteRequest": {"Key": delivery_key(workspace_id, destination_id, d, dead_letter_sk(d))}}
                for d in delivery_ids
            ],
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
        items, next_cursor = query_shards_page(
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
        return [_doc(item) for item in items], next_cursor


def _doc(item: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(item["doc"]["S"])
    return document


def _refusal(item: dict[str, Any], now: float) -> Refused:
    """Why a lease was refused, from the summary as it was (DynamoDB returns it with the refusal)."""
    if item.get("status", {}).get("S") in FINISHED_STATUSES:
        return Refused(LeaseRefusal.FINISHED)
    lease_until = float(item["lease_until"]["N"]) if "lease_until" in item else None
    if lease_until is not None and lease_until > now:
        return Refused(LeaseRefusal.LEASED, lease_until)
    next_attempt_at = float(item["next_attempt_at"]["N"]) if "next_attempt_at" in item else None
    # The item changed between the condition and this reading: its lease or schedule has just run out.
    return Refused(LeaseRefusal.EARLY, next_attempt_at if next_attempt_at is not None else now)
