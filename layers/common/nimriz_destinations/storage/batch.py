"""BatchGetItem / BatchWriteItem with their limits and their unprocessed leftovers handled, for one table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .. import aws

BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
_UNPROCESSED_PAUSES = (0.0, 0.05, 0.2, 0.5, 1.0)


class UnprocessedItems(RuntimeError):
    """DynamoDB kept returning items unprocessed (throttling): the caller's operation failed."""


def batch_get(
    table: str,
    keys: Sequence[tuple[str, str]],
    *,
    consistent: bool = False,
    projection: str | None = None,
    names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The items found for (PK, SK) keys, in no particular order; duplicate keys are read once. Raises
    UnprocessedItems when DynamoDB keeps some keys unprocessed."""
    found: list[dict[str, Any]] = []
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        chunk = unique[start : start + BATCH_GET_LIMIT]
        spec: dict[str, Any] = {"Keys": [{"PK": {"S": pk}, "SK": {"S": sk}} for pk, sk in chunk]}
        if consistent:
            spec["ConsistentRead"] = True
        if projection:
            spec["ProjectionExpression"] = projection
        if names:
            spec["ExpressionAttributeNames"] = names
        request: dict[str, Any] = {table: spec}
        for pause in _UNPROCESSED_PAUSES:
            time.sleep(pause)
            response = aws.dynamodb().batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(table, [])
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
        else:
            raise UnprocessedItems("DynamoDB kept keys unprocessed")
    return found


def batch_write(table: str, requests: Sequence[dict[str, Any]]) -> None:
    """Put/Delete requests, 25 per call; raises UnprocessedItems when DynamoDB keeps refusing some."""
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: list(requests[start : start + BATCH_WRITE_LIMIT])}
        for pause in _UNPROCESSED_PAUSES:
            time.sleep(pause)
            pending = dict(aws.dynamodb().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {})
            if not pending:
                break
        else:
            raise UnprocessedItems("DynamoDB kept items unprocessed")
