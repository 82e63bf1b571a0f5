"""moto at the cost AWS has (applied with the other corrections, `aws_server.correct_moto`).

Some of moto's operations cost time in proportion to everything it holds, where AWS's cost depends only on what the
request touches; over a long run (1,000 events and their retries) they came to dominate every test and the local
stack. Here they cost what the request touches. Answers stay exactly moto's.

- DynamoDB Query sorted the whole table, every partition, to keep the items of the queried one: on a table it now
  reads that partition only (DynamoDB reads one partition's items in sort-key order), and on an index only the items
  whose index partition key equals the query's (moto then checks and sorts those as before).
- Every request listed the methods of its service's response class (`inspect.getmembers`, a pass over every
  attribute of the class) to find the one named by the action: the list, fixed for a class, is made once per class.
- moto's server found the backend of every request by listing moto's package directory (a stat per service) and
  matching the host against every service's URL patterns, all under one lock that every request waits for: the
  answer, the same for every request of a service, is remembered.
- SQS computed "now" with datetime arithmetic twice per message of the queue on every receive, and once more per
  message for every visibility and retention check: "now" is read from the clock directly (the same instant, in
  the same milliseconds since the epoch), once per listing of a queue's visible messages.
- SQS computed every attribute of a queue, message counts included (passes over every message), for each message
  sent (to read one setting) and received (to check its retention): a receive reads the retention period alone, the
  counts take one pass each, and attribute names are converted once. (Not a cost but a correction: moto read the
  clock once per count, so a message whose visibility timeout or delay ran out between two readings of one
  GetQueueAttributes was counted in none of them, and a test waiting for an empty queue stopped while a retry was
  due. One GetQueueAttributes reads the clock once, as a snapshot.)
- DynamoDB projections (BatchGetItem and GetItem reading a few attributes of a large item) converted the whole item,
  once per projected attribute: each projection converts only the attribute it reads.
- DynamoDB parsed an UpdateExpression twice per UpdateItem and ran every validation of it on each: a parsed expression
  is remembered (the validation that follows works on a copy of it, as before), and the checks that depend on the
  expression alone (clause counts, overlapping paths, key attributes updated: half of an UpdateItem's cost) run once
  per expression, attribute names and table keys; the checks against the item and the values run every time.
- DynamoDB answers went through moto's generic serializer, which looks each of an AttributeValue's ten members up
  under several aliases: an AttributeValue is written as the wire form it already is (moto's serializer still writes
  anything else, and any value of a type it would have to convert).
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
import time
from typing import Any

from botocore.utils import merge_dicts
from moto.core import responses as moto_responses
from moto.core.model import StructureShape
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import camelcase_to_underscores, method_names_from_class
from moto.dynamodb.models import dynamo_type
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import find_nested_key
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import (
    ActionCountValidator,
    OverlappingPathsValidator,
    UpdateExpressionValidator,
    UpdateHashRangeKeyValidator,
)
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs import models as sqs_models

_moto_query = Table.query
_query_signature = inspect.signature(_moto_query)


class _Candidates:
    """A table seen through the items a query can return, for `Table.query`: everything else is the table's own."""

    def __init__(self, table: Table, items: list[Item]) -> None:
        self._table = table
        self._items = items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        return self._items


def _partition_items(table: Table, hash_key: DynamoType) -> list[Item]:
    return _items_of(table, table.items.get(hash_key, {}))


def _index_partition_items(table: Table, conditions: list[tuple[str, DynamoType]]) -> list[Item]:
    """Every item whose index partition key attributes equal the query's: the ones moto's own checks can keep."""
    return [
        item
        for partition in table.items.values()
        for item in _items_of(table, partition)
        if all((value := item.attrs.get(name)) is not None and value == wanted for name, wanted in conditions)
    ]


def _items_of(table: Table, partition: Any) -> list[Item]:
    """A partition's items: moto keeps a dict of them by sort key, or the one item where the table has no sort key."""
    return list(partition.values()) if table.range_key_attr else [partition]


def _query_candidates(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    arguments = _query_signature.bind(self, hash_key, *args, **kwargs).arguments
    index_name, index_conditions = arguments.get("index_name"), arguments.get("hash_key_conditions")
    table: Any = self
    if index_name is None and hash_key is not None:
        table = _Candidates(self, _partition_items(self, hash_key))
    elif index_name is not None and index_conditions:
        table = _Candidates(self, _index_partition_items(self, index_conditions))
    return _moto_query(table, hash_key, *args, **kwargs)


_moto_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends: dict[str | None, Any] = {}


def _remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    if host not in _backends:  # called under the application's lock
        _backends[host] = _moto_backend_for_host(self, host)
    return _backends[host]


def _unix_time_millis(dt: Any = None) -> float:
    return _clock_millis() if dt is None else _moto_unix_time_millis(dt)


def _unix_time(dt: Any = None) -> float:
    return time.time() if dt is None else _moto_unix_time(dt)


_moto_unix_time_millis = sqs_models.unix_time_millis
_moto_unix_time = sqs_models.unix_time
_moto_get_queue_attributes = sqs_models.SQSBackend.get_queue_attributes


def _clock_millis() -> float:
    return time.time() * 1000.0


# The instant of the GetQueueAttributes a thread is answering (moto's server answers on several threads).
_snapshot = threading.local()


def _now_millis() -> float:
    instant: float | None = getattr(_snapshot, "millis", None)
    return _clock_millis() if instant is None else instant


def _queue_attributes_at_one_instant(
    self: sqs_models.SQSBackend, queue_name: str, attribute_names: list[str]
) -> dict[str, Any]:
    """moto's GetQueueAttributes, with every count it computes (each name asked for computes them all again) at the
    instant the request began."""
    _snapshot.millis = _clock_millis()
    try:
        return _moto_get_queue_attributes(self, queue_name, attribute_names)
    finally:
        _snapshot.millis = None


def _visible_messages(self: sqs_models.Queue) -> list[sqs_models.Message]:
    """`Queue.messages`: visible and not delayed (moto's `Message.visible` and `Message.delayed`), at one instant."""
    now = _now_millis()
    return [message for message in self._messages if now > message.visible_at and not now < message.delayed_until]


def _delayed_count(self: sqs_models.Queue) -> int:
    now = _now_millis()
    return sum(1 for message in self._messages if now < message.delayed_until)


def _not_visible_count(self: sqs_models.Queue) -> int:
    now = _now_millis()
    return sum(1 for message in self._messages if not now > message.visible_at)


def _retained(self: sqs_models.SQSBackend, queue_name: str, message: sqs_models.Message) -> bool:
    retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
    return bool(retention_period + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]


# A projected path's first element names a top-level attribute, or one of its list's elements ("log[0]").
_LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")


_moto_project = Item.project


def _project(self: Item, projection_expressions: list[list[str]]) -> Item:
    """moto's `Item.project`, converting only the attributes each path can reach instead of the whole item."""
    result: dict[str, Any] = {}
    for expression in projection_expressions:
        element = _LIST_ELEMENT.match(expression[0])
        names = {expression[0], element.group(1)} if element else {expression[0]}
        reachable = {
            name: dynamo_type.deserializer.deserialize(self.attrs[name].to_regular_json())
            for name in names
            if name in self.attrs
        }
        merge_dicts(result, find_nested_key(expression, reachable))
    return Item(
        hash_key=self.hash_key, range_key=self.range_key, attrs=dict(dynamo_type.serializer.serialize(result)["M"])
    )


_moto_make_update_expression = UpdateExpressionParser.make


@functools.lru_cache(maxsize=1024)
def _parsed_update_expression(expression: str) -> Any:
    return _moto_make_update_expression(expression)


_underscored = functools.cache(camelcase_to_underscores)
_method_names = functools.cache(method_names_from_class)

# Validations of an update expression that read nothing but the expression, its attribute names and the table's keys.
_EXPRESSION_CHECKS = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
_moto_validator_init = UpdateExpressionValidator.__init__
_moto_validator_processors = UpdateExpressionValidator.get_ast_processors
_moto_validate = UpdateExpressionValidator.validate


def _validator_init(
    self: Any,
    expression: Any,
    expression_attribute_names: dict[str, str],
    expression_attribute_values: Any,
    item: Item,
    table: Table,
) -> None:
    self.checks_passed = expression.__dict__.setdefault("checks_passed", set())  # kept with the remembered parse
    self.checked_as = (frozenset((expression_attribute_names or {}).items()), tuple(table.table_key_attrs))
    _moto_validator_init(self, expression, expression_attribute_names, expression_attribute_values, item, table)


def _validator_processors(self: Any) -> Any:
    processors = _moto_validator_processors(self)
    if self.checked_as in self.checks_passed:
        return [processor for processor in processors if not isinstance(processor, _EXPRESSION_CHECKS)]
    return processors


def _validate(self: Any) -> Any:
    validated = _moto_validate(self)
    self.checks_passed.add(self.checked_as)
    return validated


_moto_serialize_structure = BaseJSONSerializer._serialize_type_structure
_STRINGS = frozenset({"S", "N"})
_STRING_SETS = frozenset({"SS", "NS"})


def _wire_form(value: Any) -> Any:
    """An AttributeValue (already in the JSON protocol's form) as moto's serializer writes it; None when it holds
    anything that serializer would convert (binary values, a member that is not of its type)."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    [(name, member)] = value.items()
    if name in _STRINGS:
        return value if type(member) is str else None
    if name == "M" and type(member) is dict:
        written = {key: _wire_form(item) for key, item in member.items()}
        return None if None in written.values() else {"M": written}
    if name == "L" and type(member) is list:
        listed = [_wire_form(item) for item in member]
        return None if None in listed else {"L": listed}
    if name in _STRING_SETS:
        return value if type(member) is list and all(type(item) is str for item in member) else None
    if name in ("NULL", "BOOL"):
        return value if type(member) is bool else None
    return None


def _serialize_structure(
    self: BaseJSONSerializer, serialized: Any, value: Any, shape: StructureShape, key: str
) -> None:
    if shape.name == "AttributeValue" and self.operation_model.service_model.service_name == "dynamodb":
        written = _wire_form(value)
        if written is not None:
            self._default_serialize(serialized, written, shape, key)
            return
    _moto_serialize_structure(self, serialized, value, shape, key)


def apply() -> None:
    Table.query = _query_candidates  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host  # type: ignore[method-assign]
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.unix_time = _unix_time
    queue: Any = sqs_models.Queue
    queue.messages = property(_visible_messages)
    queue.approximate_number_of_messages_delayed = property(_delayed_count)
    queue.approximate_number_of_messages_not_visible = property(_not_visible_count)
    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    sqs_models.SQSBackend.get_queue_attributes = _queue_attributes_at_one_instant  # type: ignore[method-assign]
    sqs_models.camelcase_to_underscores = moto_responses.camelcase_to_underscores = _underscored
    moto_responses.method_names_from_class = _method_names
    Item.project = _project  # type: ignore[method-assign]
    UpdateExpressionParser.make = staticmethod(_parsed_update_expression)
    validator: Any = UpdateExpressionValidator
    validator.__init__ = _validator_init
    validator.get_ast_processors = _validator_processors
    validator.validate = _validate
    BaseJSONSerializer._serialize_type_structure = _serialize_structure  # type: ignore[method-assign]
