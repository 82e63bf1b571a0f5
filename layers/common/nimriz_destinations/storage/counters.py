"""Delivery counters per action per hour: what fan-out and the dispatcher did, for the customer metrics route.

One item per (action, hour) in the destination's own partition, beside its delivery log's shards
(`storage/deliveries.destination_log_pk`; `MET#<YYYY-MM-DDTHH>#<action id>`),
holding atomic ADD counters and a fixed latency histogram. Writers add a whole batch's counts to an item in one
UpdateItem; a window is read with one paginated Query over its hours, never by scanning the delivery log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from .. import aws
from .deliveries import destination_log_pk

COUNTER_PREFIX = "MET#"
# Upper bounds (ms) of the latency histogram's bins; the last bin also holds anything slower (a request has at most
# the sender's total deadline, 15 s by default).
LATENCY_BOUNDS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000)
# Items outlive the longest window (7 days) and the hour it starts in.
RETENTION_SECONDS = 8 * 24 * 3600


def hour_of(moment: float) -> str:
    """The counter bucket of an epoch moment: its UTC hour, `YYYY-MM-DDTHH` (sorts chronologically)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H")


@dataclass(slots=True)
class Counts:
    matched: int = 0  # fan-out: the action's filter passed the event (a delivery job was queued)
    filtered_out: int = 0  # fan-out: the filter rejected it
    # fan-out: the filter passed the event but the action or its destination is disabled, so nothing was queued (the
    # volume estimate, `service/metrics.py`)
    matched_disabled: int = 0
    delivered: int = 0  # deliveries delivered
    failed: int = 0  # attempts sent that did not deliver (retried or dead-lettered after), throttled ones apart
    retrying: int = 0  # failed attempts scheduled for another
    throttled: int = 0  # attempts a provider's rate limit refused (design §8.1): not failures
    dead_lettered: int = 0  # deliveries that became dead letters
    skipped: int = 0  # deliveries deliberately not sent
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))  # attempts per bin

    def add(self, other: Counts) -> None:
        for name in _COUNTER_NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency = [mine + theirs for mine, theirs in zip(self.latency, other.latency, strict=True)]

    def observe_latency(self, milliseconds: int) -> None:
        index = next((i for i, bound in enumerate(LATENCY_BOUNDS_MS) if milliseconds <= bound), -1)
        self.latency[index] += 1

    def latency_percentile(self, fraction: float) -> int | None:
        """The upper bound of the bin holding this fraction of the attempts' latencies; None without any."""
        total = sum(self.latency)
        if not total:
            return None
        seen = 0
        for bound, count in zip(LATENCY_BOUNDS_MS, self.latency, strict=True):
            seen += count
            if seen >= fraction * total:
                return bound
        return LATENCY_BOUNDS_MS[-1]


_COUNTER_NAMES = tuple(f.name for f in fields(Counts) if f.name != "latency")
_LATENCY_NAMES = tuple(f"latency_le_{bound}" for bound in LATENCY_BOUNDS_MS)

CounterKey = tuple[str, str, str]  # (workspace id, destination id, action id)


class DeliveryCounters:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def add(self, key: CounterKey, counts: Counts, *, at: float) -> None:
        """Add `counts` to the key's item for the hour of `at`: one UpdateItem, whatever the number of events."""
        workspace_id, destination_id, action_id = key
        added = {name: getattr(counts, name) for name in _COUNTER_NAMES}
        added.update(zip(_LATENCY_NAMES, counts.latency, strict=True))
        added = {name: value for name, value in added.items() if value}
        if not added:
            return
        names = {f"#c{index}": name for index, name in enumerate(added)}
        values: dict[str, Any] = {f":c{index}": {"N": str(value)} for index, value in enumerate(added.values())}
        values[":ttl"] = {"N": str(int(at) + RETENTION_SECONDS)}
        aws.dynamodb().update_item(
            TableName=self._table,
            Key=_key(workspace_id, destination_id, hour_of(at), action_id),
            UpdateExpression="SET #ttl = :ttl ADD " + ", ".join(f"#c{index} :c{index}" for index in range(len(added))),
            ExpressionAttributeNames={**names, "#ttl": "ttl"},
            ExpressionAttributeValues=values,
        )

    def read(self, workspace_id: str, destination_id: str, *, first_hour: str, last_hour: str) -> dict[str, Counts]:
        """Per action id, the sum of its counters from `first_hour` to `last_hour` (inclusive)."""
        client = aws.dynamodb()
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": destination_log_pk(workspace_id, destination_id)},
                ":first": {"S": f"{COUNTER_PREFIX}{first_hour}#"},
                ":last": {"S": f"{COUNTER_PREFIX}{last_hour}#~"},  # "~" sorts after every action id
            },
        }
        totals: dict[str, Counts] = {}
        while True:
            response = client.query(**request)
            for item in response.get("Items", []):
                action_id = item["SK"]["S"].rsplit("#", 1)[1]
                totals.setdefault(action_id, Counts()).add(_counts(item))
            last = response.get("LastEvaluatedKey")
            if not last:
                return totals
            request["ExclusiveStartKey"] = last


def _key(workspace_id: str, destination_id: str, hour: str, action_id: str) -> dict[str, Any]:
    return {
        "PK": {"S": destination_log_pk(workspace_id, destination_id)},
        "SK": {"S": f"{COUNTER_PREFIX}{hour}#{action_id}"},
    }


def _counts(item: Mapping[str, Any]) -> Counts:
    def number(name: str) -> int:
        value = item.get(name)
        return int(value["N"]) if value else 0

    counts = Counts(latency=[number(name) for name in _LATENCY_NAMES])
    for name in _COUNTER_NAMES:
        setattr(counts, name, number(name))
    return counts
