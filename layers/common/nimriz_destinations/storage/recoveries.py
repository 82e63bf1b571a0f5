"""Walks over a destination's deliveries that queue them again, page by page (design §2.2): a recovery asked for
through the API (`RECOVERY#<destination>`: at most one running per destination), the release of held deliveries
after a resume (`RELEASE#<destination>`: a resume replaces the one before) and the expiry of deliveries held past
HOLD_MAX_SECONDS, started by the scheduled sweep (`EXPIRY#<destination>`: a sweep replaces the one before), each one
item in the workspace's partition beside its destinations.

The item says where the next page starts (`cursor`). Whoever queues a page first claims it: one conditional
UpdateItem moves the cursor from where it was read to where the page ends and names the claimer (`page_token`: the
recovery's id for the first page, the SQS message id of each continuation). So a page is queued by one claimer only
(a duplicate continuation finds the cursor moved and stops), a claim whose answer was lost is recognised when its
retry is refused (the item returned shows our token), and a claimer that failed after its claim finds its token on
the item when its message comes back and queues the same page again (`page_start`).

Pages: the release reads the sparse `held` index in occurred_at order; an expiry reads the same index up to the
events that occurred before its cutoff (a delivery is held after its event occurred), keeping those held before it;
a recovery reads the delivery log's shards
one after another between the delivery ids of `since` and `until`, the statuses (and action) filtered by DynamoDB.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import aws
from ..ids import delivery_id_range
from . import keys
from .deliveries import (
    HELD_INDEX,
    SUMMARY_PREFIX,
    DeliverySummary,
    held_pk,
    log_shard_pks,
    summary_of,
)

RecoveryKind = Literal["recover", "release", "expire"]
_PREFIXES: dict[RecoveryKind, str] = {"recover": "RECOVERY#", "release": "RELEASE#", "expire": "EXPIRY#"}
# Items one recovery page reads at most (the statuses filtered out included), in Queries of at most this many each.
READS_PER_PAGE = 400
_QUERY_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a recovery matches: deliveries of these statuses whose id's time (the event's occurred_at for live ones,
    when it was made for others) is within [since, until], of these event types and action when given."""

    since_millis: int
    until_millis: int
    statuses: tuple[str, ...]
    event_types: tuple[str, ...] | None = None
    action_id: str | None = None


@dataclass(slots=True)
class Recovery:
    kind: RecoveryKind
    workspace_id: str
    destination_id: str
    id: str
    started_at: str  # RFC 3339: only deliveries made before it are matched (not those it makes itself)
    criteria: Criteria | None = None  # a release takes every held delivery
    cursor: str = ""  # where the next page starts ("" the beginning)
    page_start: str = ""  # where the last claimed page started
    page_token: str = ""  # who claimed it
    matched: int = 0
    queued: int = 0
    finished: bool = False
    sweeps: int = 0  # a release's passes from the beginning (one more after the first: stragglers, design §2.2)
    lease_until: float = 0.0  # epoch seconds: without a page claimed by then, another recovery may start
    held_before: float = 0.0  # an expiry's cutoff (epoch seconds): the deliveries held before it have expired


@dataclass(slots=True)
class Found:
    """A delivery a page found: its summary, status and the job its record keeps (None: recorded before records
    kept one; a dead letter's job is then read from the dead letter)."""

    summary: DeliverySummary
    job: str | None


@dataclass(slots=True)
class Page:
    found: list[Found] = field(default_factory=list)
    next_cursor: str | None = None  # None: nothing after this page


class RecoveryStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, kind: RecoveryKind, workspace_id: str, destination_id: str) -> Recovery | None:
        item = (
            aws.dynamodb()
            .get_item(TableName=self._table, Key=_key(kind, workspace_id, destination_id), ConsistentRead=True)
            .get("Item")
        )
        return _from_item(kind, item) if item else None

    def start(self, recovery: Recovery, *, now: float) -> bool:
        """Store a new walk. A recovery starts only when none is running for the destination (the one before finished
        or stopped claiming pages); a release or expiry replaces the one before (whose next message then stops).
        Returns whether it started (a start whose answer was lost is recognised: the item refused shows its id)."""
        request: dict[str, Any] = {"TableName": self._table, "Item": _to_item(recovery)}
        if recovery.kind != "recover":
            aws.dynamodb().put_item(**request)
            return True
        client = aws.dynamodb()
        try:
            client.put_item(
                **request,
                ConditionExpression="attribute_not_exists(PK) OR finished = :yes OR lease_until < :now",
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":now": {"N": f"{now:.3f}"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as refused:
            running: Any = refused.response.get("Item") or {}
            return bool(running.get("id", {}).get("S") == recovery.id)
        return True

    def claim(
        self,
        recovery: Recovery,
        *,
        token: str,
        next_cursor: str,
        matched: int,
        queued: int,
        finished: bool,
        sweeps: int,
        lease_until: float,
    ) -> bool:
        """Claim the page from `recovery.cursor` (as read) to `next_cursor` for `token`, adding its counts. False when
        another claimer moved the cursor first (or the walk was replaced): nothing to do."""
        client = aws.dynamodb()
        try:
            client.update_item(
                TableName=self._table,
                Key=_key(recovery.kind, recovery.workspace_id, recovery.destination_id),
                UpdateExpression=(
                    "SET #cursor = :next, page_start = :seen, page_token = :token, matched = matched + :matched, "
                    "queued = queued + :queued, finished = :finished, sweeps = :sweeps, lease_until = :lease"
                ),
                ConditionExpression="id = :id AND #cursor = :seen AND page_token <> :token",
                ExpressionAttributeNames={"#cursor": "cursor"},
                ExpressionAttributeValues={
                    ":next": {"S": next_cursor},
                    ":seen": {"S": recovery.cursor},
                    ":token": {"S": token},
                    ":matched": {"N": str(matched)},
                    ":queued": {"N": str(queued)},
                    ":finished": {"BOOL": finished},
                    ":sweeps": {"N": str(sweeps)},
                    ":lease": {"N": f"{lease_until:.3f}"},
                    ":id": {"S": recovery.id},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as refused:
            found: Any = refused.response.get("Item") or {}
            # Our own claim whose answer was lost: the item shows our token and the page's end.
            return bool(
                found.get("page_token", {}).get("S") == token and found.get("cursor", {}).get("S") == next_cursor
            )
        return True

    def held_page(self, recovery: Recovery, *, start: str, limit: int) -> Page:
        """Held deliveries after `start` (an index sort key, "" the first), oldest event first."""
        values: dict[str, Any] = {":pk": {"S": held_pk(recovery.workspace_id, recovery.destination_id)}}
        condition = "held_pk = :pk"
        if start:
            condition += " AND held_sk > :after"
            values[":after"] = {"S": start}
        response = aws.dynamodb().query(
            TableName=self._table, IndexName=HELD_INDEX, KeyConditionExpression=condition,
            ExpressionAttributeValues=values, Limit=limit, ScanIndexForward=True,
        )  # fmt: skip
        items = response.get("Items", [])
        page = Page([Found(_held_summary(item), item.get("job", {}).get("S")) for item in items])
        if "LastEvaluatedKey" in response and items:
            page.next_cursor = items[-1]["held_sk"]["S"]
        return page

    def expired_page(self, recovery: Recovery, *, start: str, limit: int) -> Page:
        """Held deliveries held before the expiry's cutoff, from `start` (JSON: the index's last key read; "" the
        first), reading at most `limit` index items: the key condition bounds the read to events that occurred before
        the cutoff, the filter keeps those held before it."""
        cutoff_millis = int(recovery.held_before * 1000)
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": HELD_INDEX,
            "KeyConditionExpression": "held_pk = :pk AND held_sk < :cutoff",
            "FilterExpression": "held_at < :held_before",
            "ExpressionAttributeValues": {
                ":pk": {"S": held_pk(recovery.workspace_id, recovery.destination_id)},
                ":cutoff": {"S": f"{cutoff_millis:013d}"},
                ":held_before": {"N": f"{recovery.held_before:.3f}"},
            },
            "Limit": limit,
        }
        if start:
            request["ExclusiveStartKey"] = json.loads(start)
        response = aws.dynamodb().query(**request)
        page = Page([Found(_held_summary(item), item.get("job", {}).get("S")) for item in response.get("Items", [])])
        if "LastEvaluatedKey" in response:
            page.next_cursor = json.dumps(response["LastEvaluatedKey"], separators=(",", ":"))
        return page

    def log_page(self, recovery: Recovery, *, start: str) -> Page:
        """Matching deliveries from `start` (JSON: a shard and where in it; "" the first), shard after shard, reading
        at most READS_PER_PAGE items."""
        criteria = recovery.criteria
        assert criteria is not None
        position: dict[str, Any] = json.loads(start) if start else {"shard": 0, "key": None}
        shards = log_shard_pks(recovery.workspace_id, recovery.destination_id)
        low, high = delivery_id_range(criteria.since_millis, criteria.until_millis)
        names = {"#s": "status", "#doc": "doc"}
        values: dict[str, Any] = {
            ":low": {"S": SUMMARY_PREFIX + low},
            ":high": {"S": SUMMARY_PREFIX + high},
            **{f":s{index}": {"S": status} for index, status in enumerate(criteria.statuses)},
        }
        filters = [f"#s IN ({', '.join(f':s{index}' for index in range(len(criteria.statuses)))})"]
        filters.append("attribute_exists(#doc)")  # a record holding only a hold or a lease is not a delivery yet
        if criteria.action_id:
            filters.append("action_id = :action")
            values[":action"] = {"S": criteria.action_id}
        page, read = Page(), 0
        shard: int = position["shard"]
        key: dict[str, Any] | None = position["key"]
        while shard < len(shards) and read < READS_PER_PAGE:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
                "FilterExpression": " AND ".join(filters),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":pk": {"S": shards[shard]}, **values},
                "Limit": min(_QUERY_LIMIT, READS_PER_PAGE - read),
            }
            if key is not None:
                request["ExclusiveStartKey"] = key
            response = aws.dynamodb().query(**request)
            read += int(response.get("ScannedCount", 0))
            for item in response.get("Items", []):
                summary = summary_of(item)
                if criteria.event_types is None or summary.event_type in criteria.event_types:
                    page.found.append(Found(summary, item.get("job", {}).get("S")))
            key = response.get("LastEvaluatedKey")
            if key is None:
                shard += 1
        if shard < len(shards):
            page.next_cursor = json.dumps({"shard": shard, "key": key}, separators=(",", ":"))
        return page


def _key(kind: RecoveryKind, workspace_id: str, destination_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.workspace_pk(workspace_id)}, "SK": {"S": _PREFIXES[kind] + destination_id}}


def _held_summary(item: dict[str, Any]) -> DeliverySummary:
    """What releasing needs of a held delivery from the index: its id (the job says the rest)."""
    delivery_id = item["SK"]["S"].removeprefix(SUMMARY_PREFIX)
    job = json.loads(item.get("job", {}).get("S") or "{}")
    event = job.get("event", {})
    return DeliverySummary(
        delivery_id=delivery_id, destination_id=job.get("destination_id", ""), action_id=job.get("action_id", ""),
        event_id=str(event.get("id")), event_type=str(event.get("type")), reason=job.get("reason", "live"),
        status="held", attempts=0, last_http_status=None, last_error_class=None, last_message=None,
        created_at=job.get("queued_at", ""), updated_at=job.get("queued_at", ""),
    )  # fmt: skip


def _to_item(recovery: Recovery) -> dict[str, Any]:
    criteria = recovery.criteria
    item: dict[str, Any] = {
        **_key(recovery.kind, recovery.workspace_id, recovery.destination_id),
        "id": {"S": recovery.id},
        "started_at": {"S": recovery.started_at},
        "cursor": {"S": recovery.cursor},
        "page_start": {"S": recovery.page_start},
        "page_token": {"S": recovery.page_token},
        "matched": {"N": str(recovery.matched)},
        "queued": {"N": str(recovery.queued)},
        "finished": {"BOOL": recovery.finished},
        "sweeps": {"N": str(recovery.sweeps)},
        "lease_until": {"N": f"{recovery.lease_until:.3f}"},
        "held_before": {"N": f"{recovery.held_before:.3f}"},
        "ttl": {"N": str(int(time.time()) + 30 * 86400)},  # kept a while after it ends, for operators
    }
    if criteria is not None:
        shown = {
            "since_millis": criteria.since_millis,
            "until_millis": criteria.until_millis,
            "statuses": list(criteria.statuses),
            "event_types": list(criteria.event_types) if criteria.event_types is not None else None,
            "action_id": criteria.action_id,
        }
        item["criteria"] = {"S": json.dumps(shown, separators=(",", ":"))}
    return item


def _from_item(kind: RecoveryKind, item: dict[str, Any]) -> Recovery:
    criteria = None
    if "criteria" in item:
        stored = json.loads(item["criteria"]["S"])
        event_types = stored["event_types"]
        criteria = Criteria(
            since_millis=stored["since_millis"],
            until_millis=stored["until_millis"],
            statuses=tuple(stored["statuses"]),
            event_types=tuple(event_types) if event_types is not None else None,
            action_id=stored["action_id"],
        )
    return Recovery(
        kind=kind,
        workspace_id=item["PK"]["S"].removeprefix("WS#"),
        destination_id=item["SK"]["S"].removeprefix(_PREFIXES[kind]),
        id=item["id"]["S"],
        started_at=item["started_at"]["S"],
        criteria=criteria,
        cursor=item["cursor"]["S"],
        page_start=item["page_start"]["S"],
        page_token=item["page_token"]["S"],
        matched=int(item["matched"]["N"]),
        queued=int(item["queued"]["N"]),
        finished=item["finished"]["BOOL"],
        sweeps=int(item["sweeps"]["N"]),
        lease_until=float(item["lease_until"]["N"]),
        held_before=float(item.get("held_before", {}).get("N", 0)),
    )
