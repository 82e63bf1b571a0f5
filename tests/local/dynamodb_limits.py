"""DynamoDB's limits on what one request may carry, enforced where moto does not (applied by `create_stack`).

DynamoDB refuses a key value over its size limit on every operation that takes a key, reads included; moto checks
key sizes only where it stores an item, so an over-long id in a GetItem, Query or BatchGetItem passed locally and
failed in AWS. Each DynamoDB request is checked here before moto serves it, and refused as DynamoDB refuses it:
`ValidationException` with DynamoDB's message.

The limits (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html, "Partition keys and
sort keys", "Items", "DynamoDB transactions", "API-specific constraints"; and each operation's API reference page):

- a partition key value is at most 2,048 bytes, a sort key value at most 1,024 bytes, in GetItem, DeleteItem,
  Query (the key condition's values and ExclusiveStartKey), Scan (ExclusiveStartKey), BatchGetItem, BatchWriteItem,
  TransactGetItems and TransactWriteItems (Delete and ConditionCheck);
- BatchWriteItem takes at most 25 requests, and DynamoDB checks all of them before writing any: moto writes the
  puts one by one, so a put it refuses used to leave the ones before it written;
- TransactGetItems takes at most 100 items (moto still has the limit of 25 that AWS raised in 2022);
- a TransactWriteItems' items are at most 4 MB together.

Left to moto, which enforces them already (tests/integration/test_dynamodb_limits.py proves each): key sizes where an
item is stored (PutItem, UpdateItem, BatchWriteItem puts, TransactWriteItems Put and Update), items of at most 400 KB
on every write (moto refuses from 405,000 bytes of its own measure: stricter than DynamoDB's 409,600, never more
lenient), 100 keys per BatchGetItem and 16 MB per answer (the rest come back unprocessed), 100 actions per
TransactWriteItems, and 1 MB of data read per Query or Scan page (moto ends a page at 1,000,000 bytes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing.key_condition_expression import parse_expression
from moto.dynamodb.responses import DynamoHandler

Request = dict[str, Any]
Check = Callable[[DynamoDBBackend, Request], None]

BATCH_WRITE_MAX_REQUESTS = 25
TRANSACT_GET_MAX_ITEMS = 100
TRANSACTION_MAX_BYTES = 4 * 1024 * 1024


def _table(backend: DynamoDBBackend, name: Any) -> Table | None:
    try:
        return backend.get_table(str(name))
    except Exception:  # no such table: moto's own answer reports it
        return None


def _check_key(table: Table | None, key: Any) -> None:
    """Raise DynamoDB's refusal of a key whose partition or sort key value is over its limit (moto's exceptions
    carry DynamoDB's exact messages, "...maximum size limit of2048 bytes" without its space included)."""
    if table is not None and isinstance(key, dict):
        table._validate_key_sizes(key)


def _single_key(backend: DynamoDBBackend, request: Request) -> None:
    _check_key(_table(backend, request.get("TableName")), request.get("Key"))


def _query(backend: DynamoDBBackend, request: Request) -> None:
    table = _table(backend, request.get("TableName"))
    _check_key(table, request.get("ExclusiveStartKey"))
    for name, value in _key_condition_values(backend, request):
        _check_key(table, {name: value})


def _key_condition_values(backend: DynamoDBBackend, request: Request) -> Iterator[tuple[str, Any]]:
    """(key attribute, value) for every value the query's key condition compares a key with."""
    for name, condition in (request.get("KeyConditions") or {}).items():  # the legacy parameter
        for value in condition.get("AttributeValueList") or []:
            yield name, value
    expression = request.get("KeyConditionExpression")
    if not expression:
        return
    try:
        hash_conditions, range_conditions, _ = parse_expression(
            key_condition_expression=expression,
            expression_attribute_values=request.get("ExpressionAttributeValues") or {},
            expression_attribute_names=request.get("ExpressionAttributeNames") or {},
            schema=backend.get_schema(table_name=request["TableName"], index_name=request.get("IndexName")),
        )
    except Exception:  # a malformed expression: moto's own validation reports it
        return
    yield from hash_conditions
    for name, _, values in range_conditions:
        for value in values:
            yield name, value


def _scan(backend: DynamoDBBackend, request: Request) -> None:
    _check_key(_table(backend, request.get("TableName")), request.get("ExclusiveStartKey"))


def _batch_get_item(backend: DynamoDBBackend, request: Request) -> None:
    for table_name, keys_and_attributes in (request.get("RequestItems") or {}).items():
        table = _table(backend, table_name)
        for key in keys_and_attributes.get("Keys") or []:
            _check_key(table, key)


def _batch_write_item(backend: DynamoDBBackend, request: Request) -> None:
    tables: dict[str, list[Any]] = request.get("RequestItems") or {}
    for table_name, writes in tables.items():
        if len(writes) > BATCH_WRITE_MAX_REQUESTS:
            # DynamoDB's wording since its validation framework; some regions still echo the whole request instead.
            raise MockValidationException(
                f"1 validation error detected: Value at 'RequestItems.{table_name}.member' failed to satisfy "
                f"constraint: Member must have length less than or equal to {BATCH_WRITE_MAX_REQUESTS}"
            )
    if sum(len(writes) for writes in tables.values()) > BATCH_WRITE_MAX_REQUESTS:
        raise MockValidationException("Too many items requested for the BatchWriteItem call")
    for table_name, writes in tables.items():
        table = _table(backend, table_name)
        for write in writes:
            _check_key(table, (write.get("PutRequest") or {}).get("Item"))
            _check_key(table, (write.get("DeleteRequest") or {}).get("Key"))


def _transact_get_items(backend: DynamoDBBackend, request: Request) -> None:
    for entry in request.get("TransactItems") or []:
        get = entry.get("Get") or {}
        _check_key(_table(backend, get.get("TableName")), get.get("Key"))


def _transact_write_items(backend: DynamoDBBackend, request: Request) -> None:
    size = 0
    for entry in request.get("TransactItems") or []:
        for kind, action in entry.items():
            table = _table(backend, action.get("TableName"))
            if kind in ("Delete", "ConditionCheck"):
                _check_key(table, action.get("Key"))
            # What the request itself says of the items: a Put's item, the key of every other action.
            size += _size(action.get("Item") or action.get("Key") or {})
    if size > TRANSACTION_MAX_BYTES:
        # The documented limit; DynamoDB does not document this refusal's wording.
        raise MockValidationException("Transaction item size has exceeded the 4 MB limit")


def _size(attributes: dict[str, Any]) -> int:
    # moto's measure of an item (names and values), the one its 400 KB check uses.
    return sum(bytesize(name) + DynamoType(value).size() for name, value in attributes.items())


_CHECKS: dict[str, Check] = {
    "get_item": _single_key,
    "delete_item": _single_key,
    "query": _query,
    "scan": _scan,
    "batch_get_item": _batch_get_item,
    "batch_write_item": _batch_write_item,
    "transact_get_items": _transact_get_items,
    "transact_write_items": _transact_write_items,
}


def _checked(action: Callable[[DynamoHandler], Any], check: Check) -> Callable[[DynamoHandler], Any]:
    @functools.wraps(action)
    def checked_action(handler: DynamoHandler) -> Any:
        # Raised inside the action, a MockValidationException becomes moto's 400 ValidationException answer.
        check(handler.dynamodb_backend, handler.body)
        return action(handler)

    return checked_action


# Built once from moto's own actions, so applying twice (one stack per test) never wraps a wrapper.
_CHECKED_ACTIONS = {name: _checked(getattr(DynamoHandler, name), check) for name, check in _CHECKS.items()}


def apply() -> None:
    dynamodb_responses.TRANSACTION_MAX_ITEMS = TRANSACT_GET_MAX_ITEMS  # read by moto's TransactGetItems only
    for name, action in _CHECKED_ACTIONS.items():
        setattr(DynamoHandler, name, action)
