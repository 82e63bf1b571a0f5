"""Where a workspace's request limits live: one item, `WS#<workspace>` / `LIMITS`, beside its quotas.

It records the ids of what enforces them in API Gateway (design §9.6): `usage_key_id`, the workspace's API key,
once it exists and is in a usage plan; `usage_plan_id`, the workspace's own plan, once it has one (absent: the
default plan). The limits themselves are the plan's throttle, read from API Gateway, so they have one home.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import aws
from . import keys

_KEY_ID, _PLAN_ID = "usage_key_id", "usage_plan_id"


@dataclass(frozen=True, slots=True)
class LimitsRecord:
    usage_key_id: str | None = None
    usage_plan_id: str | None = None


class LimitsStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def read(self, workspace_id: str) -> LimitsRecord:
        response = aws.dynamodb().get_item(TableName=self._table, Key=_key(workspace_id), ConsistentRead=True)
        item = response.get("Item") or {}
        return LimitsRecord(
            usage_key_id=item[_KEY_ID]["S"] if _KEY_ID in item else None,
            usage_plan_id=item[_PLAN_ID]["S"] if _PLAN_ID in item else None,
        )

    def set_usage_key(self, workspace_id: str, key_id: str) -> None:
        self._set(workspace_id, _KEY_ID, key_id)

    def set_usage_plan(self, workspace_id: str, plan_id: str) -> None:
        self._set(workspace_id, _PLAN_ID, plan_id)

    def _set(self, workspace_id: str, attribute: str, value: str) -> None:
        aws.dynamodb().update_item(
            TableName=self._table,
            Key=_key(workspace_id),
            UpdateExpression="SET #a = :v",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":v": {"S": value}},
        )


def _key(workspace_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.workspace_pk(workspace_id)}, "SK": {"S": keys.LIMITS_SK}}
