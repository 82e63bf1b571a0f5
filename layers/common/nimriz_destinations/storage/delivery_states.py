"""A delivery's record as the dispatcher reads and writes it: the summary item (`DLV#<delivery id>`,
storage/deliveries.py), design §2 "A delivery's life".

Besides the API's `doc` and `log` (every attempt's entry, embedded), the summary carries the state the dispatcher
decides from (`delivery_items.DeliveryState`).

Each record also sets what the summary's indexes are keyed and filtered on (`event_key`, `status_key`, `event_type`:
storage/deliveries.py, design §3 "Searching the delivery log").

Every write but a hold is a compare-and-set on the record's revision (`rev`, bumped by each) and names its writer
(`writer`, a token per job per invocation). So a write can only follow the state it was decided from, and a write
whose answer was lost is recognised when botocore's retry is refused: the record DynamoDB returns with the refusal
(`ReturnValuesOnConditionCheckFailure`) shows the revision it set and our token. A dead letter is written with its
summary in one transaction whose `ClientRequestToken` is derived from (delivery, revision, writer).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from .. import aws
from .batch import batch_get
from .deliveries import (
    HELD,
    RESENDABLE_STATUSES,
    UNINDEXED_STATUS,
    AttemptRecord,
    DeadLetter,
    DeliverySummary,
    dead_letter_key,
    event_index_key,
    held_index_key,
    log_shard,
    status_index_key,
    summary_key,
)
from .delivery_items import DeliveryState, ItemUpdate, compact_json, epoch_number, log_entry, state_of
from .keys import destination_sk, workspace_pk

# A delivery: (workspace id, destination id, delivery id).
DeliveryKey = tuple[str, str, str]

_STATE = (
    "SK, #status, attempts, unsent, unrecorded, throttled, rev, writer, lease_until, hold_until, next_attempt_at, "
    "held_at"
)
_STATE_NAMES = {"#status": "status"}
_REFUSED = "ConditionalCheckFailed"  # a transaction's cancellation reason when an item's condition refused it
_TOKENS = uuid.UUID("6f1d9c52-3c1e-4c55-9d0e-5b7a43a0d8f1")  # namespace of transactions' ClientRequestTokens


@dataclass(slots=True)
class DeliveryWrite:
    """One outcome of a delivery, written with its summary: the log entries it adds (attempts, and a failure before
    any request when it schedules another try) and, when final, the dead letter."""

    workspace_id: str
    summary: DeliverySummary
    entries: list[AttemptRecord]
    unsent: int  # failures before any request, this one included
    next_attempt_at: float | None = None  # epoch seconds: no copy of the job may send before it
    dead_letter: DeadLetter | None = None
    throttled: int = 0  # throttled attempts the retry budget does not count, this one included
    # The job as compact JSON (`resend_job`): kept on a record a recovery may send again (RESENDABLE_STATUSES).
    job: str | None = None

    @property
    def key(self) -> DeliveryKey:
        return self.workspace_id, self.summary.destination_id, self.summary.delivery_id


class Held(Enum):
    """What holding a delivery of a paused destination did."""

    HELD = "held"
    RESUMED = "resumed"  # the destination is no longer paused: nothing was written, the job is sent as usual


def new_token() -> str:
    """A writer token: one per job per invocation (64 random bits keep the summary small)."""
    return uuid.uuid4().hex[:16]


class DeliveryStates:
    def __init__(self, table_name: str, *, retention_days: int = 30) -> None:
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def read(self, deliveries: Sequence[DeliveryKey]) -> dict[str, DeliveryState]:
        """Each delivery's state by delivery id, strongly consistent, in one BatchGetItem per 100 deliveries; a
        delivery with no record yet is missing from the answer."""
        keys = [(key["PK"]["S"], key["SK"]["S"]) for key in (summary_key(*delivery) for delivery in deliveries)]
        items = batch_get(self._table, keys, consistent=True, projection=_STATE, names=_STATE_NAMES)
        return {item["SK"]["S"].split("#", 1)[1]: state_of(item) for item in items}

    def hold(self, key: DeliveryKey, *, until: float) -> DeliveryState | None:
        """No copy sends before `until`, and afterwards only under a lease: set on a delivery with no record (a job
        queued again may have a twin sending unclaimed). None when held; else the record that exists."""
        return self._update(key, ItemUpdate(sets={"hold_until": epoch_number(until)}), seen=0, token=None)

    def lease(self, key: DeliveryKey, *, seen: DeliveryState, token: str, until: float) -> DeliveryState | None:
        """Hold the delivery until `until` to send its next attempt, if its record is still `seen`. None when taken
        (also when an earlier try of this call took it and its answer was lost); else the record as it is."""
        return self._update(key, ItemUpdate(sets={"lease_until": epoch_number(until)}), seen=seen.rev, token=token)

    def release(self, key: DeliveryKey, *, rev: int, token: str) -> DeliveryState | None:
        """Give back a lease unused (revision `rev` is ours): the next copy may send at once. None when released;
        else the record as another copy left it (the lease was no longer ours to release)."""
        return self._update(key, ItemUpdate(removes=["lease_until"]), seen=rev, token=token)

    def mark_unrecorded(self, key: DeliveryKey, *, rev: int, token: str, sends: int = 1) -> DeliveryState | None:
        """`sends` requests went out whose outcome could not be recorded over revision `rev`: the next record counts
        them as attempts (one member of the `unrecorded` set each, named after our token, so a repeated call adds
        none). None when marked (or when our outcome was written after all); else the record as it is."""
        marks = [token] + [f"{token}/{number}" for number in range(2, sends + 1)]
        return self._update(key, ItemUpdate(adds={"unrecorded": {"SS": marks}}), seen=rev, token=token)

    def record(self, write: DeliveryWrite, *, seen: DeliveryState, token: str) -> DeliveryState | None:
        """Write the outcome over the record `seen`: the summary with its new log entries (one PutItem when there was
        no record, else one UpdateItem), and the dead letter in the same transaction when there is one. None when
        written (also when an earlier try was and its answer was lost); else the record as another copy left it:
        nothing was written."""
        summary = write.summary
        values: dict[str, Any] = {
            "#status": {"S": summary.status},
            "attempts": {"N": str(summary.attempts)},
            "action_id": {"S": summary.action_id},
            "event_type": {"S": summary.event_type},
            "event_key": {"S": event_index_key(summary.destination_id, summary.event_id)},
            "#doc": {"S": compact_json(asdict(summary))},
        }
        # The status index's key follows the status; the unindexed status has none (storage/deliveries.py).
        if summary.status != UNINDEXED_STATUS:
            values["status_key"] = {
                "S": status_index_key(summary.destination_id, log_shard(summary.delivery_id), summary.status)
            }
        if write.unsent:
            values["unsent"] = {"N": str(write.unsent)}
        if write.throttled:
            values["throttled"] = {"N": str(write.throttled)}
        if write.next_attempt_at is not None:
            values["next_attempt_at"] = epoch_number(write.next_attempt_at)
        if summary.status in RESENDABLE_STATUSES and write.job is not None:
            values["#job"] = {"S": write.job}
        entries = [{"S": compact_json(log_entry(entry))} for entry in write.entries]
        if seen.rev == 0:  # nothing recorded yet (at most a hold, which the record ends): the whole item
            values |= {"#log": {"L": entries}, "rev": {"N": "1"}, "writer": {"S": token}, "#ttl": self._expiry()}
            request = {
                "TableName": self._table,
                "Item": {**summary_key(*write.key), **{name.lstrip("#"): value for name, value in values.items()}},
                "ConditionExpression": "attribute_not_exists(rev)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            operation = "Put"
        else:
            present = {"lease_until": seen.lease_until, "hold_until": seen.hold_until, "unrecorded": seen.unrecorded,
                       "unsent": seen.unsent, "next_attempt_at": seen.next_attempt_at,
                       "status_key": seen.status is not None, "held_at": seen.held_at,
                       "held_pk": seen.held, "held_sk": seen.held, "#job": "#job" not in values}  # fmt: skip
            update = ItemUpdate(
                sets=values,
                appends={"#log": entries},
                removes=[name for name, value in present.items() if value and name not in values],
            )
            request = self._update_request(write.key, update, seen=seen.rev, token=token)
            operation = "Update"
        if write.dead_letter is None:
            return self._write(operation, request, token=token, rev=seen.rev + 1)
        letter = write.dead_letter
        dead_letter = {
            **dead_letter_key(write.workspace_id, summary.destination_id, letter.delivery_id),
            "doc": {"S": compact_json(asdict(letter))},
            "ttl": self._expiry(),
        }
        items = [{operation: request}, {"Put": {"TableName": self._table, "Item": dead_letter}}]
        refused = self._transact(items, f"{summary.delivery_id}/{seen.rev + 1}/{token}")
        if refused is None:
            return None
        found = state_of(refused[0].get("Item") or {})
        return None if found.written(token, seen.rev + 1) else found

    def hold_paused(
        self, write: DeliveryWrite, *, seen: DeliveryState, token: str, occurred_millis: int, now: float
    ) -> Held | DeliveryState:
        """Keep a delivery of a paused destination as `held` with its job (design §2.2), in one transaction with a
        check that the destination is still paused, so nothing is held after a resume began releasing: a new record
        (PutItem, as ①) or, over the record `seen`, its status and job (UpdateItem, as ④). The transaction's
        `ClientRequestToken` (delivery, revision, writer) makes DynamoDB answer a retry after a lost answer as the
        first. Returns HELD, RESUMED (nothing written), or the record as another copy left it (nothing written)."""
        summary = write.summary
        index = held_index_key(write.workspace_id, summary.destination_id, summary.delivery_id, occurred_millis)
        held = {
            "#status": {"S": HELD}, "#job": {"S": write.job or ""}, "held_at": epoch_number(now), **index,
            # What the log's searches read (storage/deliveries.py), as a record's write sets them.
            "event_type": {"S": summary.event_type},
            "event_key": {"S": event_index_key(summary.destination_id, summary.event_id)},
            "status_key": {"S": status_index_key(summary.destination_id, log_shard(summary.delivery_id), HELD)},
        }  # fmt: skip
        if seen.rev == 0:
            item = {
                **summary_key(*write.key), **{name.lstrip("#"): value for name, value in held.items()},
                "doc": {"S": compact_json(asdict(summary))}, "log": {"L": []}, "attempts": {"N": "0"},
                "action_id": {"S": summary.action_id}, "rev": {"N": "1"}, "writer": {"S": token}, "ttl": self._expiry(),
            }  # fmt: skip
            record: dict[str, Any] = {
                "Put": {
                    "TableName": self._table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(rev)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        else:
            # The summary's document keeps its last outcome; the log shows the status attribute (deliveries.py).
            present = {"lease_until": seen.lease_until, "next_attempt_at": seen.next_attempt_at}
            update = ItemUpdate(sets=held, removes=[name for name, value in present.items() if value])
            record = {"Update": self._update_request(write.key, update, seen=seen.rev, token=token)}
        paused = {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": {
                    "PK": {"S": workspace_pk(write.workspace_id)},
                    "SK": {"S": destination_sk(summary.destination_id)},
                },
                "ConditionExpression": "attribute_exists(paused_at)",
            }
        }
        refused = self._transact([paused, record], f"{summary.delivery_id}/{seen.rev + 1}/{token}/held")
        if refused is None:
            return Held.HELD
        if [reason.get("Code") for reason in refused[1:2]] == [_REFUSED]:
            found = state_of(refused[1].get("Item") or {})
            return Held.HELD if found.written(token, seen.rev + 1) else found
        return Held.RESUMED  # the check that the destination is still paused refused it

    def _transact(self, items: list[dict[str, Any]], request: str) -> list[dict[str, Any]] | None:
        """One TransactWriteItems whose `ClientRequestToken` is derived from `request`, so DynamoDB answers a retry
        after a lost answer as the first. None when written; else every item's cancellation reason, when a condition
        refused the transaction (any other cancellation is raised)."""
        client = aws.dynamodb()
        request_token = str(uuid.uuid5(_TOKENS, request))
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=request_token)  # type: ignore[arg-type]
        except client.exceptions.TransactionCanceledException as cancelled:
            reasons: list[dict[str, Any]] = cancelled.response.get("CancellationReasons", [])  # type: ignore[assignment]
            if not any(reason.get("Code") == _REFUSED for reason in reasons):
                raise
            return reasons
        return None

    def _write(self, operation: str, request: dict[str, Any], *, token: str | None, rev: int) -> DeliveryState | None:
        """One PutItem or UpdateItem (setting revision `rev` by `token`, when it has one): None when written, else the
        record as it is."""
        client = aws.dynamodb()
        try:
            if operation == "Put":
                client.put_item(**request)
            else:
                client.update_item(**request)
        except client.exceptions.ConditionalCheckFailedException as refused:
            found = state_of(refused.response.get("Item") or {})  # type: ignore[arg-type]
            return None if token is not None and found.written(token, rev) else found
        return None

    def _update(self, key: DeliveryKey, update: ItemUpdate, *, seen: int, token: str | None) -> DeliveryState | None:
        request = self._update_request(key, update, seen=seen, token=token)
        return self._write("Update", request, token=token, rev=seen + 1)

    def _update_request(self, key: DeliveryKey, update: ItemUpdate, *, seen: int, token: str | None) -> dict[str, Any]:
        """An UpdateItem of the summary over revision `seen` (a hold, without a token, over no record); with a token,
        one that sets the next revision and names its writer."""
        update.sets.setdefault("#ttl", self._expiry())
        if token is not None:
            update.sets |= {"rev": {"N": str(seen + 1)}, "writer": {"S": token}}
        expression, names, values = update.expression()
        condition = "attribute_not_exists(rev)"
        if seen:
            condition = "rev = :seen"
            values[":seen"] = {"N": str(seen)}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": summary_key(*key),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
        return request

    def _expiry(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + self._retention_seconds)}
