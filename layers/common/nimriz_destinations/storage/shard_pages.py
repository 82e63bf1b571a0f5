"""One page of a list whose items are spread over several partitions (shards): newest first, full, and continued by
one cursor.

A destination's delivery log is written to several partitions (`storage/deliveries.py`, design §3). The sort keys of
its items are `<prefix><time-ordered id>`, unique across the shards, so the newest items of the whole log are a merge
of each shard's newest-first Query: a page takes the newest item among the shards' heads until it is full. Where it
ends is one sort key: the cursor carries it with the key of the logical partition (what `decode_cursor` checks), and
every shard continues below it, so one cursor continues all of them.

DynamoDB applies a filter after a Query's Limit, so a shard may answer fewer items than it read; the page reads on
until it is full, within a budget: `READS_PER_PAGE_ITEM` times what an evenly spread page reads (its items and
one per shard), each shard read at least once. Once the budget is spent, the page ends where every shard has been
read to, with a cursor: a short page, as DynamoDB's own pages are when their Limit is spent on items a filter drops.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import aws
from .cursor import decode_cursor, encode_cursor

READS_PER_PAGE_ITEM = 10
# The most items one Query asks for: a shard's Limit doubles each time it is read again within a page.
MAX_QUERY_LIMIT = 1000


@dataclass(slots=True)
class _Shard:
    pk: str
    limit: int
    items: deque[dict[str, Any]] = field(default_factory=deque)  # read, newest first, not on the page yet
    start_key: dict[str, Any] | None = None  # where its next Query starts: its last LastEvaluatedKey
    read_to: str | None = None  # the sort key it has been read down to: every newer item of it has been seen
    done: bool = False  # nothing older is left
    reads: int = 0  # Queries made this page

    @property
    def waiting(self) -> bool:
        """Nothing read is left but more is to read: its unread items may hold the newest of all."""
        return not self.items and not self.done


@dataclass(frozen=True, slots=True)
class _Query:
    table: str
    sk_prefix: str
    below: str | None  # a page after the first: only sort keys below the cursor's
    filter_expression: str
    names: dict[str, str] | None
    values: dict[str, Any] | None

    def read(self, shard: _Shard) -> int:
        """The shard's next items into its buffer; returns how many DynamoDB read (filtered out ones included)."""
        values: dict[str, Any] = {":pk": {"S": shard.pk}, ":prefix": {"S": self.sk_prefix}, **(self.values or {})}
        if self.below is None:
            condition = "PK = :pk AND begins_with(SK, :prefix)"
        else:
            # BETWEEN includes its bounds: the item at the cursor, on the previous page already, is dropped below.
            condition = "PK = :pk AND SK BETWEEN :prefix AND :below"
            values[":below"] = {"S": self.below}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": shard.limit,
            "ScanIndexForward": False,
        }
        if self.filter_expression:
            request["FilterExpression"] = self.filter_expression
        if self.names:
            request["ExpressionAttributeNames"] = self.names
        if shard.start_key is not None:
            request["ExclusiveStartKey"] = shard.start_key
        response = aws.dynamodb().query(**request)
        shard.items.extend(item for item in response.get("Items", []) if item["SK"]["S"] != self.below)
        last = response.get("LastEvaluatedKey")
        shard.start_key = last
        shard.read_to = last["SK"]["S"] if last else None
        shard.done = last is None
        shard.limit = min(2 * shard.limit, MAX_QUERY_LIMIT)
        shard.reads += 1
        return int(response.get("ScannedCount", 0))


def query_shards_page(
    table: str,
    shard_pks: Sequence[str],
    *,
    cursor_pk: str,
    sk_prefix: str,
    limit: int,
    cursor: str | None,
    filter_expression: str = "",
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the shards' items under `sk_prefix`, newest (highest sort key) first, optionally filtered, and
    the next cursor (None after the last page). Cursors name `cursor_pk`, the partition the shards make up."""
    below = decode_cursor(cursor, expected_pk=cursor_pk, sk_prefix=sk_prefix)["SK"]["S"] if cursor else None
    query = _Query(table, sk_prefix, below, filter_expression, names, values)
    # Enough for the page when the items are spread evenly, plus one; a shard that runs short is read again.
    shards = [_Shard(pk, limit=-(-limit // len(shard_pks)) + 1) for pk in shard_pks]
    budget = READS_PER_PAGE_ITEM * (limit + len(shards))
    page: list[dict[str, Any]] = []
    while len(page) < limit:
        for shard in shards:
            while shard.waiting and (budget > 0 or not shard.reads):
                budget -= query.read(shard)
        heads = [shard for shard in shards if shard.items]
        newest = max(heads, key=lambda shard: shard.items[0]["SK"]["S"], default=None)
        # With the budget spent, a waiting shard was read down to `read_to`: only items above it are known to be next.
        unread_below = max((s.read_to for s in shards if s.waiting and s.read_to is not None), default=None)
        if newest is None or (unread_below is not None and newest.items[0]["SK"]["S"] < unread_below):
            return page, _cursor(cursor_pk, unread_below) if unread_below is not None else None
        page.append(newest.items.popleft())
    more = any(shard.items or not shard.done for shard in shards)
    return page, _cursor(cursor_pk, page[-1]["SK"]["S"]) if more else None


def _cursor(cursor_pk: str, sort_key: str) -> str:
    return encode_cursor({"PK": {"S": cursor_pk}, "SK": {"S": sort_key}})
