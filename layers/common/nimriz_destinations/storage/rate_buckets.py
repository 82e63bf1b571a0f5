"""Each rate-limited destination's token bucket (design §8.11): one small item `RATE` in the destination's own
partition (beside its hourly counters, `deliveries.destination_log_pk`), holding `free_at` (epoch seconds: when its
next token is free, delivery/rates.py), the last taker's token and a TTL, so an idle bucket disappears.

A take is one conditional UpdateItem for every event of a batch's destination, in one of two forms, chosen by what
this environment last saw of the bucket: from an idle bucket (`free_at` passed) `SET free_at = :end`; from a busy one
`SET free_at = free_at + :span`, within the pacing horizon. A refusal returns the item as it is
(`ReturnValuesOnConditionCheckFailure`), so a second call decides from the truth: at most `TAKE_CALLS` calls.

Each take names its taker (a token per take) and is refused over an item its own taker wrote: botocore's retry of a
take whose answer was lost is refused showing our token, and counts as taken (the tokens right before `free_at`).
Should another dispatcher take in between, the retry takes again: those tokens lapse unused (fewer sends, never
more), at most one take's worth per lost answer and retry.
"""

from __future__ import annotations

from typing import Any

from .. import aws
from ..rates import Grant, grantable, granted
from .deliveries import destination_log_pk

RATE_SK = "RATE"
# Calls per take: one when this environment's view of the bucket holds, a second after a refusal shows the bucket,
# a third when another dispatcher moved it just then.
TAKE_CALLS = 3
# An idle bucket's item lives this long after its last take (free_at in the past is the same as no item).
RETENTION_SECONDS = 24 * 3600


class RateBuckets:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def take(
        self,
        workspace_id: str,
        destination_id: str,
        *,
        wanted: int,
        spacing: float,
        now: float,
        horizon: float,
        believed_free_at: float,
        token: str,
    ) -> Grant:
        """Take up to `wanted` tokens whose times fall within `horizon` of `now`: the grant (its `free_at` the bucket's
        next free token after it, or as found when nothing could be taken)."""
        client = aws.dynamodb()
        key = {"PK": {"S": destination_log_pk(workspace_id, destination_id)}, "SK": {"S": RATE_SK}}
        free_at = believed_free_at
        for _ in range(TAKE_CALLS):
            count = grantable(free_at=free_at, now=now, wanted=wanted, spacing=spacing, horizon=horizon)
            if count == 0:
                break
            values: dict[str, Any] = {
                ":me": {"S": token},
                ":now": _number(now),
                ":ttl": {"N": str(int(now) + RETENTION_SECONDS)},
            }
            if free_at <= now:  # idle, as far as we know: the tokens start now
                expression = "SET free_at = :end, taker = :me, #ttl = :ttl"
                condition = "(attribute_not_exists(free_at) OR free_at <= :now)"
                values[":end"] = _number(now + count * spacing)
            else:  # busy: after the tokens taken so far, the last one within the horizon
                expression = "SET free_at = free_at + :span, taker = :me, #ttl = :ttl"
                condition = "free_at > :now AND free_at <= :latest"
                values[":span"] = _number(count * spacing)
                values[":latest"] = _number(now + horizon - (count - 1) * spacing)
            try:
                answer = client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=expression,
                    ConditionExpression=f"{condition} AND (attribute_not_exists(taker) OR taker <> :me)",
                    ExpressionAttributeNames={"#ttl": "ttl"},
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except client.exceptions.ConditionalCheckFailedException as refused:
                item: dict[str, Any] = refused.response.get("Item") or {}  # type: ignore[assignment]
                found = float(item["free_at"]["N"]) if "free_at" in item else 0.0
                if item.get("taker", {}).get("S") == token:  # our own take, its answer lost: taken
                    return granted(free_at_before=found - count * spacing, now=now, count=count, spacing=spacing)
                free_at = found
                continue
            end = float(answer["Attributes"]["free_at"]["N"])
            return granted(free_at_before=end - count * spacing, now=now, count=count, spacing=spacing)
        return Grant(0, max(free_at, now), spacing, max(free_at, now))


def _number(seconds: float) -> dict[str, str]:
    return {"N": f"{seconds:.4f}"}
