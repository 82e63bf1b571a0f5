"""Destination items: one item per destination holding its actions (PUT replaces them atomically)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import aws
from ..errors import ConcurrentModification, PayloadTooLarge
from . import keys
from .cursor import decode_cursor, encode_cursor
from .records import ActionHealth, ActionRecord, CircuitRecord, DestinationRecord

_DOC_FIELDS = (
    "organization_id", "name", "type", "enabled", "credential_hints", "secret_arn", "secret_version",
    "created_at", "updated_at",
)  # fmt: skip

ITEM_LIMIT_BYTES = 400 * 1024  # DynamoDB's item size limit (attribute names + values)
# Kept free for the attributes written outside the document: the dispatcher's per-action health (3 attributes,
# about 190 bytes per action, under 10 KB for 50 actions), the destination's circuit (under 100 bytes) and any
# later ones.
ITEM_HEADROOM_BYTES = 32 * 1024
# The secret reference is written after the secret exists, so the check counts its longest form: a secret ARN
# (at most 2,048 characters) and a version id (at most 64).
SECRET_REFERENCE_BYTES = 2048 + 64
DOCUMENT_BUDGET_BYTES = ITEM_LIMIT_BYTES - ITEM_HEADROOM_BYTES


@dataclass(frozen=True, slots=True)
class DestinationState:
    """What the dispatcher checks per batch: the version (its `enabled` flag is part of the versioned document,
    so a newer version covers a disable) and the persisted circuit."""

    version: int
    circuit: CircuitRecord | None


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

    @staticmethod
    def ensure_fits(record: DestinationRecord) -> None:
        """Raise PayloadTooLarge unless the item for `record` stays within DOCUMENT_BUDGET_BYTES (call it before
        writing anything, the secret included)."""
        unreferenced = dataclasses.replace(record, secret_arn=None, secret_version=None)
        size = item_size(_to_item(unreferenced)) + SECRET_REFERENCE_BYTES
        if size > DOCUMENT_BUDGET_BYTES:
            raise PayloadTooLarge(
                f"The destination would take {size} bytes to store; the limit is {DOCUMENT_BUDGET_BYTES} bytes. "
                "Use fewer or smaller actions, mappings or settings."
            )

    def create(self, record: DestinationRecord) -> None:
        aws.dynamodb().put_item(
            TableName=self._table,
            Item=_to_item(record),
            ConditionExpression="attribute_not_exists(PK)",
        )

    def replace(
        self, record: DestinationRecord, *, expected_version: int, drop_health_of: Collection[str] = ()
    ) -> None:
        """Write `record` only if the stored version is still `expected_version` (no interleaved PUTs).

        An update, not a put: the health attributes the dispatcher maintains on the item survive, except those of
        the actions in `drop_health_of` (removed ones: health stays within the item headroom however often
        actions change).
        """
        client = aws.dynamodb()
        item = _to_item(record)
        dropped = [name for action_id in drop_health_of for name in _health_names(action_id)]
        names = {"#v": "version", "#doc": "doc", **{f"#h{index}": name for index, name in enumerate(dropped)}}
        expression = "SET #doc = :doc, #v = :new"
        if dropped:
            expression += " REMOVE " + ", ".join(f"#h{index}" for index in range(len(dropped)))
        try:
            client.update_item(
                TableName=self._table,
                Key=_key(record.workspace_id, record.id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK) AND #v = :expected",
                ExpressionAttributeNames=names,
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
        success_name, failure_name, count_name = _health_names(action_id)
        names = {"#at": success_name if success else failure_name, "#count": count_name}
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

    def states(self, destinations: Sequence[tuple[str, str]]) -> dict[tuple[str, str], DestinationState]:
        """Version and circuit of each (workspace, destination) that still exists: strongly consistent, so a
        destination deleted before this call is missing from the answer. One BatchGetItem per 100 keys."""
        client = aws.dynamodb()
        found: dict[tuple[str, str], DestinationState] = {}
        unique = list(dict.fromkeys(destinations))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [_key(workspace, destination) for workspace, destination in unique[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "PK, SK, #v, circuit",
                    "ExpressionAttributeNames": {"#v": "version"},
                }
            }
            while request:
                response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    key = (item["PK"]["S"].removeprefix("WS#"), item["SK"]["S"].removeprefix(keys.DESTINATION_PREFIX))
                    found[key] = DestinationState(int(item["version"]["N"]), _circuit(item))
                request = dict(response.get("UnprocessedKeys") or {})
        return found

    def record_circuit(self, workspace_id: str, destination_id: str, circuit: CircuitRecord) -> None:
        """Persist the destination's circuit next to its health, for every dispatcher and the API to see."""
        value: dict[str, Any] = {"state": {"S": circuit.state}}
        if circuit.opened_at is not None:
            value["opened_at"] = {"N": f"{circuit.opened_at:.3f}"}
        if circuit.until is not None:
            value["until"] = {"N": f"{circuit.until:.3f}"}
        client = aws.dynamodb()
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):  # deleted meanwhile
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, destination_id),
                UpdateExpression="SET circuit = :circuit",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":circuit": {"M": value}},
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


def _health_names(action_id: str) -> tuple[str, str, str]:
    """The item attributes holding one action's last success, last failure and consecutive failures."""
    return f"hs_{action_id}", f"hf_{action_id}", f"hc_{action_id}"


def _to_item(record: DestinationRecord) -> dict[str, Any]:
    # The document is stored as JSON text: exact round-trip of mapping values (no Decimal coercion). UTF-8, not
    # \u-escaped (an escape takes 6 bytes for a 2-byte character), and never NaN/Infinity, which are not JSON.
    doc = {name: getattr(record, name) for name in _DOC_FIELDS}
    doc["actions"] = [asdict(action) for action in record.actions]
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)
    return {
        **_key(record.workspace_id, record.id),
        "entity": {"S": "destination"},
        "version": {"N": str(record.version)},
        "doc": {"S": text},
    }


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for `item`: each attribute name plus its value (strings as UTF-8; a number as one
    byte per two significant digits plus one)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            digits = value["N"].lstrip("-").replace(".", "").strip("0") or "0"
            size += (len(digits) + 1) // 2 + 1
        else:
            raise TypeError(f"item_size counts string and number attributes only, not {sorted(value)}")
    return size


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
        circuit=_circuit(item),
        **{name: doc[name] for name in _DOC_FIELDS},
    )


def _circuit(item: dict[str, Any]) -> CircuitRecord | None:
    value = item.get("circuit", {}).get("M")
    if value is None:
        return None
    return CircuitRecord(
        state=value["state"]["S"],
        opened_at=float(value["opened_at"]["N"]) if "opened_at" in value else None,
        until=float(value["until"]["N"]) if "until" in value else None,
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
