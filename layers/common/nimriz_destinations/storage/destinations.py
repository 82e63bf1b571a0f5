"""Destination items: one item per destination holding its actions (PUT replaces them atomically)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict
from typing import Any

from .. import aws
from ..errors import ConcurrentModification, InvalidCursor
from . import keys
from .records import ActionRecord, DestinationRecord

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
            request["ExclusiveStartKey"] = _decode_cursor(cursor, pk)
        response = aws.dynamodb().query(**request)
        records = [_from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return records, _encode_cursor(last) if last else None

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
        """Write `record` only if the stored version is still `expected_version` (no interleaved PUTs)."""
        client = aws.dynamodb()
        try:
            client.put_item(
                TableName=self._table,
                Item=_to_item(record),
                ConditionExpression="attribute_exists(PK) AND #v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentModification("The destination was changed by another request; retry.") from exc

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
        **{name: doc[name] for name in _DOC_FIELDS},
    )


def _encode_cursor(last_key: dict[str, Any]) -> str:
    raw = json.dumps({"pk": last_key["PK"]["S"], "sk": last_key["SK"]["S"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, expected_pk: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        pk, sk = decoded["pk"], decoded["sk"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("The cursor is not valid; use next_cursor from a previous page.") from exc
    if pk != expected_pk or not isinstance(sk, str) or not sk.startswith(keys.DESTINATION_PREFIX):
        raise InvalidCursor("The cursor is not valid; use next_cursor from a previous page.")
    return {"PK": {"S": pk}, "SK": {"S": sk}}
