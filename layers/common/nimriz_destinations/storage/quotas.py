"""A workspace's quotas and its usage of them: one item, `WS#<workspace>` / `QUOTA`, beside its destinations.

The item holds the limits an admin set (`limit_<quota>`; absent: the default, so a changed default reaches every
workspace that kept it) and the usage (`used_destinations`, `used_actions`, `used_per_type`: event type ->
deliveries one such event can fan out to). Usage is counted once from the workspace's destinations
(`start_counting`), then kept exact by every destination write: the write and `usage_change(...)` go in one
transaction whose condition is the quota, so concurrent saves cannot together pass a limit that each alone
respected (storage/destinations.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import aws
from ..quotas import DEFAULT_QUOTAS, QUOTA_NAMES, Quotas, Usage
from . import keys

_USED_DESTINATIONS, _USED_ACTIONS, _USED_PER_TYPE = "used_destinations", "used_actions", "used_per_type"


class UsageChanged(Exception):
    """The usage or limits changed between reading and writing: read them again and re-check."""


@dataclass(frozen=True, slots=True)
class WorkspaceQuota:
    quotas: Quotas
    usage: Usage | None  # None until the workspace's usage was first counted


class QuotaStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def read(self, workspace_id: str, *, consistent: bool = True) -> WorkspaceQuota:
        response = aws.dynamodb().get_item(TableName=self._table, Key=_key(workspace_id), ConsistentRead=consistent)
        item = response.get("Item") or {}
        return WorkspaceQuota(quotas=_quotas(item), usage=_usage(item))

    def set_limits(self, workspace_id: str, limits: Mapping[str, int]) -> Quotas:
        """Set the given quotas (the others keep their value); returns all of them as they now are."""
        names = {f"#q{index}": f"limit_{name}" for index, name in enumerate(limits)}
        values = {f":q{index}": {"N": str(value)} for index, value in enumerate(limits.values())}
        response = aws.dynamodb().update_item(
            TableName=self._table,
            Key=_key(workspace_id),
            UpdateExpression="SET " + ", ".join(f"#q{index} = :q{index}" for index in range(len(limits))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _quotas(response["Attributes"])

    def start_counting(self, workspace_id: str, usage: Usage) -> bool:
        """Store the usage counted from the workspace's destinations, unless it is counted already (by a
        concurrent save: then False, and the caller reads what that one stored)."""
        client = aws.dynamodb()
        try:
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id),
                UpdateExpression="SET #d = :d, #a = :a, #t = :t",
                ConditionExpression="attribute_not_exists(#d)",
                ExpressionAttributeNames={"#d": _USED_DESTINATIONS, "#a": _USED_ACTIONS, "#t": _USED_PER_TYPE},
                ExpressionAttributeValues={
                    ":d": {"N": str(usage.destinations)},
                    ":a": {"N": str(usage.actions)},
                    ":t": {"M": {t: {"N": str(n)} for t, n in usage.deliveries_per_event_type.items()}},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def usage_change(self, workspace_id: str, change: Usage, quotas: Quotas) -> dict[str, Any]:
        """The TransactWriteItems entry adding `change` to the usage, conditional on every quota `change` increases
        still holding (and on the usage being counted)."""
        update = _Expression(names={"#d": _USED_DESTINATIONS}, conditions=["attribute_exists(#d)"])
        update.add("#d", change.destinations, quotas.destinations)
        if change.actions:
            update.names["#a"] = _USED_ACTIONS
            update.add("#a", change.actions, quotas.actions)
        changed_types = [(t, n) for t, n in change.deliveries_per_event_type.items() if n]
        if changed_types:
            update.names["#t"] = _USED_PER_TYPE
        for index, (event_type, added) in enumerate(changed_types):
            update.names[f"#t{index}"] = event_type
            # An event type added to the catalogue after the usage was counted starts from zero.
            update.add(f"#t.#t{index}", added, quotas.deliveries_per_event, may_be_absent=True)
        if not update.sets:
            raise ValueError("usage_change needs a change")
        return {
            "Update": {
                "TableName": self._table,
                "Key": _key(workspace_id),
                "UpdateExpression": "SET " + ", ".join(update.sets),
                "ConditionExpression": " AND ".join(update.conditions),
                "ExpressionAttributeNames": update.names,
                "ExpressionAttributeValues": update.values,
            }
        }


@dataclass
class _Expression:
    """An UpdateItem that adds to counters, each increase conditional on its limit."""

    names: dict[str, str]
    conditions: list[str]
    sets: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, added: int, limit: int, *, may_be_absent: bool = False) -> None:
        if not added:
            return
        value = f":v{len(self.sets)}"
        self.values[value] = {"N": str(added)}
        if may_be_absent:
            self.values[":zero"] = {"N": "0"}
            self.sets.append(f"{path} = if_not_exists({path}, :zero) + {value}")
        else:
            self.sets.append(f"{path} = {path} + {value}")
        if added > 0:
            self.values[f"{value}max"] = {"N": str(limit - added)}
            bound = f"{path} <= {value}max"
            self.conditions.append(f"(attribute_not_exists({path}) OR {bound})" if may_be_absent else bound)


def _key(workspace_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.workspace_pk(workspace_id)}, "SK": {"S": keys.QUOTA_SK}}


def _quotas(item: Mapping[str, Any]) -> Quotas:
    return Quotas(
        **{
            name: int(item[f"limit_{name}"]["N"]) if f"limit_{name}" in item else getattr(DEFAULT_QUOTAS, name)
            for name in QUOTA_NAMES
        }
    )


def _usage(item: Mapping[str, Any]) -> Usage | None:
    if _USED_DESTINATIONS not in item:
        return None
    per_type = item.get(_USED_PER_TYPE, {}).get("M", {})
    return Usage(
        destinations=int(item[_USED_DESTINATIONS]["N"]),
        actions=int(item[_USED_ACTIONS]["N"]),
        deliveries_per_event_type={t: int(n["N"]) for t, n in per_type.items()},
    )
