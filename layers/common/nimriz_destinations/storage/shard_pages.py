"""One page of a list whose items are spread over several partitions (shards): newest first, full, and continued by
one cursor.

A destination's delivery log is written to several partitions (`storage/deliveries.py`, design §3). The sort keys of
its items are `<prefix><time-ordered id>`, unique across the shards, so the newest items of the whole log are a merge
of each shard's newest-first Query: a page takes the newest item among the shards' heads until it is full. Where it
ends is one sort key: the cursor carries it with the key of the logical partition (what `decode_cursor` checks), and
every shard continues below it, so one cursor continues all of them. The shards may be partitions of an index whose
sort key is the table's (`Index`); a range of sort keys (a time range of the ids) is a key condition.

DynamoDB applies a filter after a Query's Limit, so a shard may answer fewer items than it read; the page reads on
until it is full, each shard's next Limit sized by how many of its items the filter let through, within a budget of
`READ_BUDGET_ITEMS` items read per page. A page is full or the last one: should the budget be spent first, the
request fails with `SearchTooBroad` (naming the time range to narrow) rather than answer a short page with a cursor.
A page is answered with a cursor only when an item is known to follow it, so no page after a cursor is empty (unless
the budget ran out just as the page was filled, or what followed was deleted in between).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import aws
from ..errors import Problem, SearchTooBroad
from .cursor import decode_cursor, encode_cursor

# Items DynamoDB may read for one page, filtered out ones included: at most about 20 MB of the delivery log (its
# summaries are under 2 KB but for the longest logs), 2,500 read units, a few seconds of Queries (docs/cost.md).
READ_BUDGET_ITEMS = 10_000
# The most items one Query asks for.
MAX_QUERY_LIMIT = 1000
# Sorts after every character of an id: the upper bound of a range with no end.
_ABOVE_EVERY_ID = "~"


@dataclass(frozen=True, slots=True)
class Index:
    """A global secondary index whose sort key is the table's `SK`: its name and its partition key attribute."""

    name: str
    partition_key: str


@dataclass(slots=True)
class _Shard:
    pk: str
    share: int  # the items it holds of an evenly spread page, plus one
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


@dataclass(slots=True)
class _Query:
    table: str
    index: Index | None
    sk_prefix: str
    lowest: str | None  # the lowest sort key to read (included)
    above: str | None  # the sort key every item read is below (excluded): the range's end or the cursor's
    filter_expression: str
    names: dict[str, str] | None
    values: dict[str, Any] | None
    scanned: int = 0  # items DynamoDB read this page, over every shard
    found: int = 0  # of them, those the filter let through

    def read(self, shard: _Shard) -> int:
        """The shard's next items into its buffer; returns how many DynamoDB read (filtered out ones included)."""
        pk_name = self.index.partition_key if self.index else "PK"
        values: dict[str, Any] = {":pk": {"S": shard.pk}, **(self.values or {})}
        if self.lowest is None and self.above is None:
            condition = "#pk = :pk AND begins_with(SK, :lowest)"
            values[":lowest"] = {"S": self.sk_prefix}
        else:
            # BETWEEN includes its bounds: an item at `above` (the cursor's, on the previous page) is dropped below.
            condition = "#pk = :pk AND SK BETWEEN :lowest AND :above"
            values[":lowest"] = {"S": self.lowest or self.sk_prefix}
            values[":above"] = {"S": self.above or self.sk_prefix + _ABOVE_EVERY_ID}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#pk": pk_name, **(self.names or {})},
            "ExpressionAttributeValues": values,
            "Limit": shard.limit,
            "ScanIndexForward": False,
        }
        if self.index:
            request["IndexName"] = self.index.name
        if self.filter_expression:
            request["FilterExpression"] = self.filter_expression
        if shard.start_key is not None:
            request["ExclusiveStartKey"] = shard.start_key
        response = aws.dynamodb().query(**request)
        found = response.get("Items", [])
        shard.items.extend(item for item in found if item["SK"]["S"] != self.above)
        last = response.get("LastEvaluatedKey")
        shard.start_key = last
        shard.read_to = last["SK"]["S"] if last else None
        shard.done = last is None
        scanned = int(response.get("ScannedCount", 0))
        self.scanned += scanned
        self.found += len(found)
        # Read next what the filter's pass rate so far (over every shard) says holds the shard's share of the page,
        # and at least twice as much as this time.
        wanted = math.ceil(shard.share * self.scanned / self.found) if self.found else 4 * shard.limit
        shard.limit = min(max(2 * shard.limit, wanted), MAX_QUERY_LIMIT)
        shard.reads += 1
        return scanned


def query_shards_page(
    table: str,
    shard_pks: Sequence[str],
    *,
    cursor_pk: str,
    sk_prefix: str,
    limit: int,
    cursor: str | None,
    index: Index | None = None,
    lowest: str | None = None,
    above: str | None = None,
    filter_expression: str = "",
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the shards' items under `sk_prefix` (from `lowest` included to `above` excluded, when given),
    newest (highest sort key) first, optionally filtered, and the next cursor (None after the last page). Cursors
    name `cursor_pk`, the partition the shards make up. Raises SearchTooBroad when the read budget is spent before
    the page is full."""
    # Every item read is below the cursor's sort key and the range's end, whichever is lower.
    upper = decode_cursor(cursor, expected_pk=cursor_pk, sk_prefix=sk_prefix)["SK"]["S"] if cursor else None
    if upper is None or (above is not None and above < upper):
        upper = above
    if upper is not None and lowest is not None and upper <= lowest:
        return [], None  # a cursor at or below the range's start (another search's): nothing of the range is left
    query = _Query(table, index, sk_prefix, lowest, upper, filter_expression, names, values)
    # Enough for the page when the items are spread evenly, plus one; a shard that runs short is read again.
    share = -(-limit // len(shard_pks)) + 1
    shards = [_Shard(pk, share=share, limit=share) for pk in shard_pks]
    budget = READ_BUDGET_ITEMS
    page: list[dict[str, Any]] = []
    while True:
        for shard in shards:
            while shard.waiting and (budget > 0 or not shard.reads):
                budget -= query.read(shard)
        heads = [shard for shard in shards if shard.items]
        newest = max(heads, key=lambda shard: shard.items[0]["SK"]["S"], default=None)
        # With the budget spent, a waiting shard was read down to `read_to`: only items above it are known to be next.
        unread_below = max((s.read_to for s in shards if s.waiting and s.read_to is not None), default=None)
        if unread_below is not None and (newest is None or newest.items[0]["SK"]["S"] < unread_below):
            if len(page) == limit:  # full, and more may follow
                return page, _cursor(cursor_pk, page[-1]["SK"]["S"])
            # A short page with a cursor would break the lists' contract (design §9.4): refuse the search instead.
            raise SearchTooBroad(
                f"The search read {READ_BUDGET_ITEMS} items without filling the page.",
                [
                    Problem(name, "narrow the time range, or filter by event_id or status")
                    for name in ("query.since", "query.until")
                ],
            )
        if newest is None:
            return page, None
        if len(page) == limit:  # full, and the next page has at least this item: never an empty page after a cursor
            return page, _cursor(cursor_pk, page[-1]["SK"]["S"])
        page.append(newest.items.popleft())


def _cursor(cursor_pk: str, sort_key: str) -> str:
    return encode_cursor({"PK": {"S": cursor_pk}, "SK": {"S": sort_key}})
