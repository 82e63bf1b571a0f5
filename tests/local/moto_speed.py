"""moto at the cost AWS has (applied with the other corrections, `stand_in.correct_moto`).

Some of moto's operations cost time in proportion to everything it holds, where AWS's cost depends only on what the
request touches; over a long run (1,000 events and their retries) they came to dominate every test and the local
stack. Here they cost what the request touches. Answers stay exactly moto's.

- DynamoDB Query on a table (not an index) sorted the whole table, every partition, to keep the queried one's
  items: it now reads the partition only (DynamoDB reads one partition's items in sort-key order).
- moto's server found the backend of every request by listing moto's package directory (a stat per service) and
  matching the host against every service's URL patterns, all under one lock that every request waits for: the
  answer, the same for every request of a service, is remembered.
- SQS computed "now" with datetime arithmetic twice per message of the queue on every receive, and once more per
  message for every visibility and retention check: "now" is read from the clock directly (the same instant, in
  the same milliseconds since the epoch).
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs import models as sqs_models

_moto_query = Table.query
_query_signature = inspect.signature(_moto_query)


class _Partition:
    """A table seen as one of its partitions, for `Table.query`: everything else is the table's own."""

    def __init__(self, table: Table, hash_key: DynamoType) -> None:
        self._table = table
        self._hash_key = hash_key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def all_items(self) -> list[Item]:
        partition = self._table.items.get(self._hash_key, {})
        return list(partition.values()) if self._table.range_key_attr else [partition]  # type: ignore[list-item]


def _query_one_partition(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
    index_name = _query_signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
    table = self if index_name or hash_key is None else _Partition(self, hash_key)
    return _moto_query(table, hash_key, *args, **kwargs)  # type: ignore[arg-type]


_moto_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends: dict[str | None, Any] = {}


def _remembered_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    if host not in _backends:  # called under the application's lock
        _backends[host] = _moto_backend_for_host(self, host)
    return _backends[host]


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else _moto_unix_time_millis(dt)


def _unix_time(dt: Any = None) -> float:
    return time.time() if dt is None else _moto_unix_time(dt)


_moto_unix_time_millis = sqs_models.unix_time_millis
_moto_unix_time = sqs_models.unix_time


def apply() -> None:
    Table.query = _query_one_partition  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _remembered_backend_for_host  # type: ignore[method-assign]
    sqs_models.unix_time_millis = _unix_time_millis
    sqs_models.unix_time = _unix_time
