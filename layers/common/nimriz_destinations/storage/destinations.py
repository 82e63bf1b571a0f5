"""Destination items: one item per destination holding its actions (PUT replaces them atomically)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from typing import Any

from .. import aws
from ..errors import ConcurrentModification
from . import keys
from .cursor import decode_cursor, encode_cursor
from .records import ActionHealth, ActionRecord, DestinationRecord

_DOC_FIELDS = (
    "organization_id", "name", "type", "enabled", "credential_hints", "secret_arn", "secret_version",
    "created_at", "updated_at",
)  # fmt: skip


class DestinationStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, workspace_id: str, destination_id: str, *, consistent: bool = True) -> DestinationRecord | None:
        response = aws.dynamodb().get_item(
            TableName=self._table,
            Key=_key(workspace_id, destination_id),
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return _from_item(item) if item else None

    def list_page(
        self, workspace_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DestinationRecord], str | None]:
        """One Query per page; the cursor is the opaque, workspace-checked LastEvaluatedKey."""
        pk = keys.workspace_pk(workspace_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": keys.DESTINATION_PREFIX}},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = decode_cursor(cursor, expected_pk=pk, sk_prefix=keys.DESTINATION_PREFIX)
        response = aws.dynamodb().query(**request)
        records = [_from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return records, encode_cursor(last) if last else None

    def list_all(self, workspace_id: str) -> list[DestinationRecord]:
        records: list[DestinationRecord] = []
        cursor: str | None = None
        while True:
            page, cursor = self.list_page(workspace_id, limit=100, cursor=cursor)
            records.extend(page)
            if not cursor:
                return records

    def create(self, record: DestinationRecord) -> None:
        aws.dynamodb().put_item(
            TableName=self._table,
            Item=_to_item(record),
            ConditionExpression="attribute_not_exists(PK)",
        )

    def replace(self, record: DestinationRecord, *, expected_version: int) -> None:
        """Write `record` only if the stored version is still `expected_version` (no interleaved PUTs).

        An update, not a put: the health attributes the dispatcher maintains on the item survive.
        """
        client = aws.dynamodb()
        item = _to_item(record)
        try:
            client.update_item(
                TableName=self._table,
                Key=_key(record.workspace_id, record.id),
                UpdateExpression="SET #doc = :doc, #v = :new",
                ConditionExpression="attribute_exists(PK) AND #v = :expected",
                ExpressionAttributeNames={"#v": "version", "#doc": "doc"},
                ExpressionAttributeValues={
                    ":doc": item["doc"],
                    ":new": item["version"],
                    ":expected": {"N": str(expected_version)},
                },
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentModification("The destination was changed by another request; retry.") from exc

    def record_health(self, workspace_id: str, destination_id: str, action_id: str, *, success: bool, at: str) -> None:
        """Last success / last failure / consecutive failures of one action, kept on the destination item."""
        names = {"#at": f"{'hs' if success else 'hf'}_{action_id}", "#count": f"hc_{action_id}"}
        if success:
            expression = "SET #at = :at, #count = :zero"
            values = {":at": {"S": at}, ":zero": {"N": "0"}}
        else:
            expression = "SET #at = :at ADD #count :one"
            values = {":at": {"S": at}, ":one": {"N": "1"}}
        client = aws.dynamodb()
        # A deleted destination is not brought back by a late delivery.
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, destination_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def delete(self, workspace_id: str, destination_id: str) -> DestinationRecord | None:
        """Delete and return the deleted record (None when it did not exist)."""
        response = aws.dynamodb().delete_item(
            TableName=self._table,
            Key=_key(workspace_id, destination_id),
            ReturnValues="ALL_OLD",
        )
        item = response.get("Attributes")
        return _from_item(item) if item else None


def _key(workspace_id: str, destination_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.workspace_pk(workspace_id)}, "SK": {"S": keys.destination_sk(destination_id)}}


def _to_item(record: DestinationRecord) -> dict[str, Any]:
    # The document is stored as JSON text: exact round-trip of mapping values (no Decimal coercion).
    doc = {name: getattr(record, name) for name in _DOC_FIELDS}
    doc["actions"] = [asdict(action) for action in record.actions]
    return {
        **_key(record.workspace_id, record.id),
        "entity": {"S": "destination"},
        "version": {"N": str(record.version)},
        "doc": {"S": json.dumps(doc, separators=(",", ":"), sort_keys=True)},
    }


def _from_item(item: dict[str, Any]) -> DestinationRecord:
    doc = json.loads(item["doc"]["S"])
    workspace_id = item["PK"]["S"].removeprefix("WS#")
    destination_id = item["SK"]["S"].removeprefix(keys.DESTINATION_PREFIX)
    return DestinationRecord(
        id=destination_id,
        workspace_id=workspace_id,
        actions=[ActionRecord(**action) for action in doc.pop("actions")],
        version=int(item["version"]["N"]),
        health=_health(item),
        **{name: doc[name] for name in _DOC_FIELDS},
    )


def _health(item: dict[str, Any]) -> dict[str, ActionHealth]:
    """Per-action health from the `hs_<action>`, `hf_<action>`, `hc_<action>` attributes."""
    health: dict[str, ActionHealth] = {}
    for name, value in item.items():
        kind, _, action_id = name.partition("_")
        if kind not in ("hs", "hf", "hc") or not action_id:
            continue
        entry = health.setdefault(action_id, ActionHealth())
        if kind == "hs":
            entry.last_success_at = value["S"]
        elif kind == "hf":
            entry.last_failure_at = value["S"]
        else:
            entry.consecutive_failures = int(value["N"])
    return health
