"""Corrections where moto departs from AWS in a way the service relies on (applied by `aws_server.correct_moto`).

UpdateItem: DynamoDB holds the item as it will be *after* the update to the 400 KB limit. moto checks each
attribute as it is set against the item's current size, so replacing a 240 KB `doc` counts the old value and
the new one (480 KB) and fails an update DynamoDB accepts. Here an attribute being replaced is taken out of the
count first, and put back if the new value is refused.

Concurrency: every DynamoDB request is atomic in AWS; moto's backend is not thread-safe. A TransactWriteItems that
is cancelled (a condition failed) restores what it backed up when it started, so a write another thread made
meanwhile is lost (moto 5.2.5 in a plain script: 42 and 103 of 3,000 puts lost next to one thread of cancelled
transactions), and copying a table while another thread writes to it raises `dictionary changed size during
iteration` out of the client call. The dispatcher leases and records from many threads at once, so each DynamoDB
request is served whole under one lock, here, wherever moto serves it (in-process `mock_aws`, or the AWS stand-in's
server, `aws_server.py`).

SQS is atomic per queue in AWS; moto takes its queue's own lock (a condition) only to add a message and to wait for
one. A receive, a delete or a visibility change running beside another operation on the queue lost messages (a
delete rebuilds the queue's list of messages, dropping one sent meanwhile) and handed one message out twice (two
receives both found it visible), and a receive failed with `Set changed size during iteration`. Each operation on a
queue now holds that queue's lock, which a long poll releases while it waits, as moto's own wait does: no other
lock is added, and queues stay independent of one another and of DynamoDB.

FIFO deduplication: SQS accepts a message whose deduplication id it saw in the last 5 minutes without delivering it,
whether or not the first one was received and deleted meanwhile (SQS developer guide, "Using the message
deduplication ID"). moto compares it only with the messages still on the queue, so a first message already consumed
let its duplicate through. Here a FIFO queue remembers each deduplication id for the 5 minutes.

TransactWriteItems: moto backs up every table a transaction touches with a deep copy (its whole content, per
transaction: quadratic over a long run) and restores the copy on failure. Here only the items the transaction
names are backed up and restored.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs import models as sqs_models
from moto.sqs.models import SQSBackend

_ABSENT = object()
_moto_setitem = LimitedSizeDict.__setitem__


def _set_counting_the_result(self: LimitedSizeDict, key: str, value: Any) -> None:
    previous = dict.pop(self, key, _ABSENT)
    try:
        _moto_setitem(self, key, value)
    except ItemSizeTooLarge:
        if previous is not _ABSENT:
            dict.__setitem__(self, key, previous)
        raise


_dynamodb_lock = threading.RLock()
_moto_call_action = DynamoHandler.call_action
_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _serialised_call_action(self: DynamoHandler) -> Any:
    with _dynamodb_lock:
        return _moto_call_action(self)


class _TablesNotCopied:
    """moto's `copy` module inside its DynamoDB backend, except that a Table is not deep-copied (see above)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend: DynamoDBBackend, entry: dict[str, Any]) -> tuple[Table, DynamoType, DynamoType | None] | None:
    _, operation = next(iter(entry.items()))
    try:
        table = backend.get_table(operation["TableName"])
        key = operation.get("Key") or operation["Item"]
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        return table, DynamoType(key[table.hash_key_attr]), range_value
    except Exception:  # a malformed operation: moto's own validation reports it
        return None


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    touched = [found for entry in transact_items if (found := _touched(self, entry)) is not None]
    backup = [(table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value)))
              for table, hash_value, range_value in touched]  # fmt: skip
    try:
        _moto_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_value, range_value, original in reversed(backup):
            _restore(table, hash_value, range_value, original)
        raise


def _restore(table: Table, hash_value: DynamoType, range_value: DynamoType | None, original: Item | None) -> None:
    table.delete_item(hash_value, range_value)
    if original is None:
        return
    if range_value is not None:
        table.items[hash_value][range_value] = original
    else:
        table.items[hash_value] = original  # type: ignore[assignment]


# SQSBackend's operations on one queue's messages; each takes the queue's name first.
_QUEUE_OPERATIONS = (
    "send_message",
    "send_message_batch",
    "receive_message",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
    "get_queue_attributes",
)
_moto_queue_operations = {name: getattr(SQSBackend, name) for name in _QUEUE_OPERATIONS}


def _atomic_on_its_queue(name: str) -> Callable[..., Any]:
    operation = _moto_queue_operations[name]

    @functools.wraps(operation)
    def atomic(self: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with self.get_queue(queue_name)._messages_lock:
            return operation(self, queue_name, *args, **kwargs)

    return atomic


_moto_add_message = sqs_models.Queue.add_message


def _add_message_unless_seen(self: sqs_models.Queue, message: sqs_models.Message) -> None:
    if self.fifo_queue and message.deduplication_id:
        seen: dict[str, int] = self.__dict__.setdefault("_deduplication_ids_seen", {})
        first = seen.get(message.deduplication_id)
        now = int(message.sent_timestamp or 0)
        if first is not None and now - first < sqs_models.DEDUPLICATION_TIME_IN_SECONDS * 1000:
            return
        seen[message.deduplication_id] = now
    _moto_add_message(self, message)


def apply() -> None:
    LimitedSizeDict.__setitem__ = _set_counting_the_result  # type: ignore[method-assign]
    DynamoHandler.call_action = _serialised_call_action  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    dynamodb_models.copy = _TablesNotCopied()  # type: ignore[assignment]
    for name in _QUEUE_OPERATIONS:
        setattr(SQSBackend, name, _atomic_on_its_queue(name))
    sqs_models.Queue.add_message = _add_message_unless_seen  # type: ignore[method-assign]
