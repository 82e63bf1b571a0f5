"""What AWS would bill for the calls made while a meter is installed, worked out call by call.

Every call of every boto3 client created while the meter is installed is seen through botocore's events (registered
for every new botocore session, as moto's own stub is): its service and operation, and what it is billed by
(docs/cost.md, "How calls are counted", prices them):
- DynamoDB on demand, from the sizes of the items each call touched, read from in-process moto's tables (the whole
  item, whatever a projection returned). A write costs one write unit per KB, rounded up, of the larger of the item
  before and after it, at least one, also when its condition fails; in a transaction every item costs two. A write
  also costs each global secondary index it changes (DynamoDB's rules, "Provisioned throughput considerations for
  global secondary indexes"): an index entry added, removed, or with a projected attribute changed, one write of
  the projected entry's size (per KB, rounded up); an index key changed, two (the old entry deleted, the new one
  put); in a transaction, twice that. A read
  costs one read unit per 4 KB, rounded up, strongly consistent, half that eventually consistent, at least that for
  an item not found; a Query adds up the items it read and rounds up once.
- SQS: one request per 64 KB (65,536 bytes) of payload, the message bodies and attributes sent or received, at least
  one per call.
- Secrets Manager: one API call per call.
Units are also kept per partition key, for DynamoDB's per-partition limits (docs/cost.md, "Scale").

A Query with a filter is billed for every item it read, but only the items it returned are seen here: the others
are counted at the returned items' average size (ScannedCount), 1 KB when none came back.

`latency` makes every call of a service wait that long before it is sent, standing in for the network and service
time of a call in the region (in-process moto answers in about a millisecond).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.handlers
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

from nimriz_destinations import aws

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
SQS_CHUNK_BYTES = 64 * 1024
STORAGE_OVERHEAD_BYTES = 100
# Keys in botocore's per-call context, shared by the call's events.
_PARAMS_KEY = "aws_usage_params"
_BEFORE_KEY = "aws_usage_item_sizes_before"

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


@dataclass(frozen=True, slots=True)
class Usage:
    """One call as billed."""

    service: str
    operation: str
    requests: int  # billed requests: SQS in 64 KB chunks, every other call 1
    read_units: float = 0.0  # DynamoDB read request units
    write_units: float = 0.0  # DynamoDB write request units
    partitions: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # PK -> (read, write) units
    queue: str | None = None  # SQS: the queue's name
    messages: int = 0  # SQS: messages sent or received

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


class AwsMeter:
    def __init__(self, *, region: str = "us-east-1", latency: Mapping[str, float] | None = None) -> None:
        self.calls: list[Usage] = []
        self._region = region
        self._latency = dict(latency or {})
        self._lock = threading.Lock()
        # botocore's stubs type handlers as taking keyword arguments only.
        self._handlers: tuple[tuple[str, Any], ...] = (
            ("before-parameter-build", self._before),
            ("before-call", self._wait),
            ("after-call", self._after),
        )

    @contextmanager
    def installed(self) -> Iterator[AwsMeter]:
        """Meter every client created from now on (create the project's clients again: `runtime.reset()`)."""
        botocore.handlers.BUILTIN_HANDLERS.extend(self._handlers)  # sessions made from now on
        sessions = [aws.session(), *([boto3.DEFAULT_SESSION._session] if boto3.DEFAULT_SESSION else [])]
        for session in sessions:
            for event, handler in self._handlers:
                session.register(event, handler)
        try:
            yield self
        finally:
            for spec in self._handlers:
                botocore.handlers.BUILTIN_HANDLERS.remove(spec)
            for session in sessions:
                for event, handler in self._handlers:
                    session.unregister(event, handler)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    # -- the hooks -----------------------------------------------------------------------------------------

    def _before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS_KEY] = dict(params)
        if model.service_model.service_name == "dynamodb" and model.name in _WRITES:
            context[_BEFORE_KEY] = {target: self._item(*target) for target in _write_targets(model.name, params)}

    def _wait(self, model: Any, **_: Any) -> None:
        seconds = self._latency.get(model.service_model.service_name)
        if seconds:
            time.sleep(seconds)

    def _after(self, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        params = context.get(_PARAMS_KEY, {})
        if service == "dynamodb":
            usage = self._dynamodb(operation, params, context.get(_BEFORE_KEY, {}), parsed)
        elif service == "sqs":
            usage = _sqs(operation, params, parsed)
        else:
            usage = Usage(service, operation, 1)
        with self._lock:
            self.calls.append(usage)

    # -- DynamoDB ------------------------------------------------------------------------------------------

    def _dynamodb(
        self,
        operation: str,
        params: Mapping[str, Any],
        before: Mapping[_Target, dict[str, Any] | None],
        parsed: Mapping[str, Any],
    ) -> Usage:
        partitions: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        if operation in _WRITES:
            factor = 2 if operation == "TransactWriteItems" else 1
            for target, item_before in before.items():
                item_after = self._item(*target)
                size = max(item_size(item_before or {}), item_size(item_after or {}))
                partitions[target[1]][1] += factor * max(1, math.ceil(size / WRITE_UNIT_BYTES))
                for index_partition, index_units in self._index_write_units(target[0], item_before, item_after):
                    partitions[index_partition][1] += factor * index_units
        else:
            for pk, units in self._read_units(operation, params, parsed).items():
                partitions[pk][0] += units
        reads = sum(units[0] for units in partitions.values())
        writes = sum(units[1] for units in partitions.values())
        frozen = {pk: (units[0], units[1]) for pk, units in partitions.items()}
        return Usage("dynamodb", operation, 1, read_units=reads, write_units=writes, partitions=frozen)

    def _read_units(self, operation: str, request: Mapping[str, Any], parsed: Mapping[str, Any]) -> dict[str, float]:
        units: defaultdict[str, float] = defaultdict(float)
        if operation == "GetItem":
            target = (request["TableName"], *_key_values(request["Key"]))
            units[target[1]] += _read_cost(self._item_size(*target), request.get("ConsistentRead", False))
        elif operation == "BatchGetItem":
            unprocessed = parsed.get("UnprocessedKeys") or {}
            for table, spec in request["RequestItems"].items():
                left = {tuple(_key_values(key)) for key in unprocessed.get(table, {}).get("Keys", [])}
                for key in spec["Keys"]:
                    pk, sk = _key_values(key)
                    if (pk, sk) not in left:
                        units[pk] += _read_cost(self._item_size(table, pk, sk), spec.get("ConsistentRead", False))
        elif operation in ("Query", "Scan"):
            items = parsed.get("Items", [])
            sizes = [self._item_size(request["TableName"], *_key_values(item)) for item in items]
            average = sum(sizes) / len(sizes) if sizes else WRITE_UNIT_BYTES
            read = sum(sizes) + average * (int(parsed.get("ScannedCount", len(items))) - len(items))
            pk = request.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S", "?")
            units[pk] += _read_cost(read, request.get("ConsistentRead", False))
        return units

    def stored_bytes(self, table: str, pks: Iterable[str]) -> int:
        """What the partitions' items take in storage: their sizes plus DynamoDB's 100 bytes of overhead per item."""
        moto_table = dynamodb_backends[DEFAULT_ACCOUNT_ID][self._region].get_table(table)
        total = 0
        for pk in pks:
            for item in moto_table.items.get(DynamoType({"S": pk}), {}).values():
                total += item_size(item.to_json()["Attributes"]) + STORAGE_OVERHEAD_BYTES
        return total

    def _item_size(self, table: str, pk: str, sk: str | None) -> int:
        """The item's size as DynamoDB counts it (0 when there is none), read from moto's table."""
        return item_size(self._item(table, pk, sk) or {})

    def _item(self, table: str, pk: str, sk: str | None) -> dict[str, Any] | None:
        """The item's attributes as stored in moto's table, None when there is none."""
        moto_table = dynamodb_backends[DEFAULT_ACCOUNT_ID][self._region].get_table(table)
        item = moto_table.get_item(DynamoType({"S": pk}), DynamoType({"S": sk}) if sk is not None else None)
        return None if item is None else dict(item.to_json()["Attributes"])

    def _index_write_units(
        self, table: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> list[tuple[str, int]]:
        """The global secondary index entries written for one item going from `before` to `after` (None: absent):
        (`index <name> <partition key value>`, write units) each, an index's partitions being its own."""
        moto_table = dynamodb_backends[DEFAULT_ACCOUNT_ID][self._region].get_table(table)
        written = []
        for index in moto_table.global_indexes:
            old, new = _index_entry(index, before), _index_entry(index, after)
            if old == new:
                continue
            keys_changed = old is not None and new is not None and _index_keys(index, old) != _index_keys(index, new)
            for entry in (old, new) if keys_changed else (new or old,):
                if entry is not None:
                    partition = f"index {index.name} {_index_keys(index, entry)[0]}"
                    written.append((partition, max(1, math.ceil(item_size(entry) / WRITE_UNIT_BYTES))))
        return written


_Target = tuple[str, str, str | None]  # (table, partition key, sort key)


def _key_values(key: Mapping[str, Any]) -> tuple[str, str | None]:
    sort_key = key.get("SK")
    return key["PK"]["S"], sort_key["S"] if sort_key else None


def _write_targets(operation: str, params: Mapping[str, Any]) -> list[_Target]:
    if operation == "PutItem":
        return [(params["TableName"], *_key_values(params["Item"]))]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(params["TableName"], *_key_values(params["Key"]))]
    if operation == "TransactWriteItems":
        targets = []
        for entry in params["TransactItems"]:
            ((_kind, action),) = entry.items()
            targets.append((action["TableName"], *_key_values(action.get("Item") or action["Key"])))
        return targets
    return [
        (table, *_key_values(request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]))
        for table, requests in params["RequestItems"].items()
        for request in requests
    ]


def _index_entry(index: Any, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The entry `item` has in a global secondary index (keys and projected attributes), None when it has none: a
    sparse index holds only the items that have every one of its key attributes."""
    if item is None or any(name not in item for name in index.schema_key_attrs):
        return None
    projection = index.projection or {}
    kept = set(index.table_key_attrs) | set(index.schema_key_attrs)
    if projection.get("ProjectionType") == "ALL":
        return dict(item)
    if projection.get("ProjectionType") == "INCLUDE":
        kept |= set(projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in kept}


def _index_keys(index: Any, entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The entry's index key values, partition key first (as text: `S` and `N` keys alike)."""
    return tuple(next(iter(entry[name].values())) for name in index.schema_key_attrs)


def _read_cost(size: float, consistent: bool) -> float:
    return max(1, math.ceil(size / READ_UNIT_BYTES)) * (1.0 if consistent else 0.5)


def item_size(attributes: Mapping[str, Any]) -> int:
    """An item's size by DynamoDB's rules: each attribute's name (UTF-8 bytes) plus its value."""
    return sum(len(name.encode()) + _value_size(value) for name, value in attributes.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":  # about one byte per two significant digits, plus one
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in data.items())
    if kind == "SS":
        return sum(len(element.encode()) for element in data)
    if kind == "NS":
        return sum(_value_size({"N": element}) for element in data)
    return sum(len(element) for element in data)  # BS


# -- SQS ---------------------------------------------------------------------------------------------------------


def _sqs(operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> Usage:
    if operation == "SendMessage":
        messages = [params]
    elif operation == "SendMessageBatch":
        messages = list(params["Entries"])
    elif operation == "ReceiveMessage":
        messages = list(parsed.get("Messages", []))
    else:
        messages = []
    payload = sum(_message_size(message) for message in messages)
    queue = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1] or None
    requests = max(1, math.ceil(payload / SQS_CHUNK_BYTES))
    return Usage("sqs", operation, requests, queue=queue, messages=len(messages))


def _message_size(message: Mapping[str, Any]) -> int:
    size = len(str(message.get("MessageBody", message.get("Body", ""))).encode())
    for name, attribute in (message.get("MessageAttributes") or {}).items():
        value = attribute.get("StringValue") or attribute.get("BinaryValue") or b""
        size += len(name.encode()) + len(attribute["DataType"].encode())
        size += len(value.encode()) if isinstance(value, str) else len(value)
    return size
