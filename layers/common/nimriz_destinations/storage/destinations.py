"""Destination items: one item per destination holding its actions (PUT replaces them atomically)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import aws
from ..clock import parse_rfc3339
from ..errors import ConcurrentModification, InvalidCursor, PayloadTooLarge
from ..ids import is_id, is_platform_id
from . import keys
from .batch import batch_get
from .cursor import INVALID_CURSOR_MESSAGE, decode_fields, encode_fields, query_page
from .quotas import UsageChanged
from .records import (
    ActionHealth,
    ActionRecord,
    CircuitRecord,
    DestinationHealth,
    DestinationRecord,
    UnhealthyState,
)

_DOC_FIELDS = (
    "organization_id", "name", "type", "enabled", "credential_hints", "secret_arn", "secret_version",
    "created_at", "updated_at",
)  # fmt: skip

ITEM_LIMIT_BYTES = 400 * 1024  # DynamoDB's item size limit (attribute names + values)
# Kept free for the attributes written outside the document: the dispatcher's per-action health (5 attributes,
# about 300 bytes per action, under 16 KB for 50 actions), the destination's health and circuit (under 500 bytes)
# and any later ones.
ITEM_HEADROOM_BYTES = 32 * 1024
# The secret reference is written after the secret exists, so the check counts its longest form: a secret ARN
# (at most 2,048 characters) and a version id (at most 64).
SECRET_REFERENCE_BYTES = 2048 + 64
DOCUMENT_BUDGET_BYTES = ITEM_LIMIT_BYTES - ITEM_HEADROOM_BYTES
_MAX_DISABLE_ATTEMPTS = 3


# The destination's own health attributes (the per-action ones are named by _health_names).
_STATE, _SINCE, _REASON = "health_state", "health_since", "health_reason"
_FAILURES, _RUN_START = "health_failures", "health_run_start"
_SUCCESS_AT, _FAILURE_AT = "health_success_at", "health_failure_at"
_FAILING, _DISABLED = "failing", "disabled"
# The sparse index of destinations that are not healthy (design §3): keyed by `health_state`, which only a failing
# or disabled destination has, and `health_since`; it holds the table's keys only (KEYS_ONLY), so the dispatcher's
# health counts on a failing destination never write to it: only its transitions do.
HEALTH_INDEX = "HealthIndex"
_PAUSED_AT = "paused_at"
# The destination's delivery rate (events per second, design §8.11), written with each version of the document.
_DELIVERY_RATE = "delivery_rate"
# The sparse index of paused destinations (template.yaml): one partition, written on pause and resume only.
PAUSED_INDEX = "paused"
_PAUSED_PARTITION = "PAUSED"


@dataclass(frozen=True, slots=True)
class SentTally:
    """What one batch sent for one action: deliveries that succeeded, and attempts that failed."""

    delivered: int
    failed: int


@dataclass(frozen=True, slots=True)
class DestinationState:
    """What the dispatcher checks per batch: the version (its `enabled` flag is part of the versioned document,
    so a newer version covers a disable), the persisted circuit, and the health its batch may leave unchanged."""

    version: int
    circuit: CircuitRecord | None
    health: DestinationHealth
    action_health: dict[str, ActionHealth]
    paused: bool = False  # its deliveries are held, not sent (design §2.2)
    delivery_rate: int | None = None  # events per second at most (design §8.11); None: unlimited


class DestinationStore:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def get(self, workspace_id: str, destination_id: str, *, consistent: bool = True) -> DestinationRecord | None:
        """The destination; None when there is none, known without a request when `destination_id` cannot be an id."""
        if not is_id(destination_id):
            return None
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
        items, next_cursor = query_page(
            self._table, pk, keys.DESTINATION_PREFIX, limit=limit, cursor=cursor, newest_first=False
        )
        return [_from_item(item) for item in items], next_cursor

    def list_by_health(
        self, state: UnhealthyState, *, limit: int, cursor: str | None
    ) -> tuple[list[DestinationRecord], str | None]:
        """Destinations of every workspace whose health is `state`, the most recent transitions first: `limit` of
        them unless it is the last page. Reads the sparse health index (never the healthy destinations), then the
        items it names in one BatchGetItem per page; one that changed state since the index saw it is left out
        and the index read on, so the page shows each destination as it is."""
        found: list[DestinationRecord] = []
        start = _health_cursor_key(cursor, state) if cursor else None
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": HEALTH_INDEX,
                "KeyConditionExpression": "#state = :state",
                "ExpressionAttributeNames": {"#state": _STATE},
                "ExpressionAttributeValues": {":state": {"S": state}},
                "ScanIndexForward": False,
                "Limit": limit - len(found),
            }
            if start:
                request["ExclusiveStartKey"] = start
            response = aws.dynamodb().query(**request)
            wanted = [(item["PK"]["S"], item["SK"]["S"]) for item in response.get("Items", [])]
            items = {(item["PK"]["S"], item["SK"]["S"]): item for item in batch_get(self._table, wanted)}
            found += [
                record
                for key in wanted
                if key in items and (record := _from_item(items[key])).destination_health.state == state
            ]
            start = response.get("LastEvaluatedKey")
            if not start or len(found) == limit:
                return found, _health_cursor(start) if start else None

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

    def create(self, record: DestinationRecord, *, usage_change: dict[str, Any]) -> None:
        """Store a new destination and add it to the workspace's usage, all or nothing (`usage_change`: from
        QuotaStore.usage_change; UsageChanged when its quota condition no longer holds)."""
        put = {"TableName": self._table, "Item": _to_item(record), "ConditionExpression": "attribute_not_exists(PK)"}
        _transact({"Put": put}, usage_change)

    def replace(
        self,
        record: DestinationRecord,
        *,
        expected_version: int,
        drop_health_of: Collection[str] = (),
        reset_health: bool = False,
        usage_change: dict[str, Any] | None = None,
    ) -> DestinationRecord:
        """Write `record` only if the stored version is still `expected_version` (no interleaved PUTs), with
        `usage_change` (QuotaStore.usage_change) in the same transaction when the write changes the workspace's usage.

        An update, not a put: the health attributes the dispatcher maintains on the item survive, except those of
        the actions in `drop_health_of` (removed ones: health stays within the item headroom however often
        actions change). `reset_health` (a re-enable) makes the destination and its actions healthy from now on,
        with a closed circuit; the last success and failure times are kept. Returns the destination as stored.
        """
        client = aws.dynamodb()
        item = _to_item(record)
        removed = [name for action_id in drop_health_of for name in _health_names(action_id)]
        if _DELIVERY_RATE not in item:  # unlimited from this version on
            removed.append(_DELIVERY_RATE)
        healthy_since: list[str] = []
        if reset_health:
            removed += [_STATE, _REASON, _FAILURES, _RUN_START]
            for action in record.actions:
                _, _, count, failing, since = _health_names(action.id)
                removed += [count, failing]
                healthy_since.append(since)
            healthy_since.append(_SINCE)
        names = {
            "#v": "version",
            "#doc": "doc",
            **{f"#r{index}": name for index, name in enumerate(removed)},
            **{f"#h{index}": name for index, name in enumerate(healthy_since)},
        }
        values = {":doc": item["doc"], ":new": item["version"], ":expected": {"N": str(expected_version)}}
        expression = "SET #doc = :doc, #v = :new"
        if _DELIVERY_RATE in item:
            expression += f", {_DELIVERY_RATE} = :rate"
            values[":rate"] = item[_DELIVERY_RATE]
        if reset_health:  # closed as of now, so every dispatcher's older view of it gives way (delivery/circuit.py)
            closed = CircuitRecord("closed", closed_at=parse_rfc3339(record.updated_at).timestamp())
            expression += ", circuit = :circuit"
            values[":circuit"] = _circuit_value(closed)
        if healthy_since:
            expression += "".join(f", #h{index} = :now" for index in range(len(healthy_since)))
            values[":now"] = {"S": record.updated_at}
        if removed:
            expression += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removed)))
        update = {
            "TableName": self._table,
            "Key": _key(record.workspace_id, record.id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(PK) AND #v = :expected",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if usage_change is not None:
            _transact({"Update": update}, usage_change)
            stored = self.get(record.workspace_id, record.id)
            if stored is None:  # deleted by another request right after this write
                raise ConcurrentModification("The destination was deleted by another request.")
            return stored
        try:
            response = client.update_item(**update, ReturnValues="ALL_NEW")  # type: ignore[arg-type]
        except client.exceptions.ConditionalCheckFailedException as exc:
            raise ConcurrentModification("The destination was changed by another request; retry.") from exc
        return _from_item(response["Attributes"])

    def record_sent(
        self, workspace_id: str, destination_id: str, tallies: Mapping[str, SentTally], *, at: str
    ) -> DestinationRecord | None:
        """Count one batch's sends on the item in one update: per action and for the destination, last success,
        last failure and the run of failures (a success ends it). Returns the destination as it is after the
        update, or None when it no longer exists."""
        # DynamoDB refuses names and values the expressions do not use: each is added with its use.
        names: dict[str, str] = {"#dc": _FAILURES, "#dr": _RUN_START}
        values: dict[str, Any] = {":at": {"S": at}}
        sets: list[str] = []
        adds: list[str] = []
        removes: list[str] = []
        for index, (action_id, tally) in enumerate(tallies.items()):
            success, failure, count, _, _ = _health_names(action_id)
            if tally.failed:
                names[f"#f{index}"] = failure
                sets.append(f"#f{index} = :at")
            if tally.delivered:
                names.update({f"#s{index}": success, f"#c{index}": count})
                sets += [f"#s{index} = :at", f"#c{index} = :zero"]
            elif tally.failed:
                names[f"#c{index}"] = count
                adds.append(f"#c{index} :n{index}")
                values[f":n{index}"] = {"N": str(tally.failed)}
        failed = sum(tally.failed for tally in tallies.values())
        if failed:
            names["#df"] = _FAILURE_AT
            sets.append("#df = :at")
        if any(tally.delivered for tally in tallies.values()):
            names["#ds"] = _SUCCESS_AT
            sets += ["#ds = :at", "#dc = :zero"]
            removes.append("#dr")
            values[":zero"] = {"N": "0"}
        else:
            sets.append("#dr = if_not_exists(#dr, :at)")
            adds.append("#dc :failed")
            values[":failed"] = {"N": str(failed)}
        expression = "SET " + ", ".join(sets)
        if adds:
            expression += " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        client = aws.dynamodb()
        try:  # a deleted destination is not brought back by a late delivery
            response = client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, destination_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _from_item(response["Attributes"])

    def mark_failing(
        self, workspace_id: str, destination_id: str, action_id: str | None, *, at: str, threshold: int
    ) -> bool:
        """Healthy -> failing for the destination (action_id None) or one action, if its run of failures still
        reaches `threshold`. Returns whether this call made the transition (exactly one caller does)."""
        state, since, count = self._transition_names(action_id)
        return self._transition(
            workspace_id,
            destination_id,
            expression="SET #state = :failing, #since = :at",
            condition="attribute_not_exists(#state) AND #count >= :threshold",
            names={"#state": state, "#since": since, "#count": count},
            values={":failing": {"S": _FAILING}, ":at": {"S": at}, ":threshold": {"N": str(threshold)}},
        )

    def mark_recovered(
        self, workspace_id: str, destination_id: str, action_id: str | None, *, at: str, threshold: int
    ) -> bool:
        """Failing -> healthy for the destination (action_id None) or one action, if it is not failing again.
        Returns whether this call made the transition (a disabled destination is not recovered by a success)."""
        state, since, count = self._transition_names(action_id)
        return self._transition(
            workspace_id,
            destination_id,
            expression="REMOVE #state SET #since = :at",
            condition="#state = :failing AND (attribute_not_exists(#count) OR #count < :threshold)",
            names={"#state": state, "#since": since, "#count": count},
            values={":failing": {"S": _FAILING}, ":at": {"S": at}, ":threshold": {"N": str(threshold)}},
        )

    @staticmethod
    def _transition_names(action_id: str | None) -> tuple[str, str, str]:
        if action_id is None:
            return _STATE, _SINCE, _FAILURES
        _, _, count, state, since = _health_names(action_id)
        return state, since, count

    def _transition(
        self,
        workspace_id: str,
        destination_id: str,
        *,
        expression: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> bool:
        client = aws.dynamodb()
        try:
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, destination_id),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(PK) AND {condition}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def auto_disable(self, workspace_id: str, destination_id: str, *, reason: str, at: str) -> DestinationRecord | None:
        """Disable an enabled destination for `reason`: `enabled: false` in its document (a new version, so ETags
        change and a concurrent PUT is not overwritten) and its health `disabled`. Returns the disabled
        destination, or None when it is gone, already disabled, or kept changing under us."""
        client = aws.dynamodb()
        for _ in range(_MAX_DISABLE_ATTEMPTS):
            current = self.get(workspace_id, destination_id)
            if current is None or not current.enabled or current.destination_health.state == _DISABLED:
                return None
            disabled = dataclasses.replace(current, enabled=False, version=current.version + 1, updated_at=at)
            try:
                response = client.update_item(
                    TableName=self._table,
                    Key=_key(workspace_id, destination_id),
                    UpdateExpression="SET #doc = :doc, #v = :new, #state = :disabled, #since = :at, #reason = :reason",
                    ConditionExpression="attribute_exists(PK) AND #v = :expected",
                    ExpressionAttributeNames={
                        "#doc": "doc",
                        "#v": "version",
                        "#state": _STATE,
                        "#since": _SINCE,
                        "#reason": _REASON,
                    },
                    ExpressionAttributeValues={
                        ":doc": _to_item(disabled)["doc"],
                        ":new": {"N": str(disabled.version)},
                        ":expected": {"N": str(current.version)},
                        ":disabled": {"S": _DISABLED},
                        ":at": {"S": at},
                        ":reason": {"S": reason},
                    },
                    ReturnValues="ALL_NEW",
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue  # a PUT (or another disable) came first: judge the destination as it is now
            return _from_item(response["Attributes"])
        return None

    def states(self, destinations: Sequence[tuple[str, str]]) -> dict[tuple[str, str], DestinationState]:
        """Version, circuit and health of each (workspace, destination) that still exists: strongly consistent,
        so a destination deleted before this call is missing from the answer. One BatchGetItem per 100 keys, of
        whole items (a projection would not make the read cheaper: DynamoDB bills the item's size)."""
        found: dict[tuple[str, str], DestinationState] = {}
        wanted = [
            (keys.workspace_pk(workspace), keys.destination_sk(destination)) for workspace, destination in destinations
        ]
        for item in batch_get(self._table, wanted, consistent=True):
            key = (item["PK"]["S"].removeprefix("WS#"), item["SK"]["S"].removeprefix(keys.DESTINATION_PREFIX))
            found[key] = DestinationState(
                int(item["version"]["N"]), _circuit(item), _destination_health(item), _health(item),
                paused=_PAUSED_AT in item, delivery_rate=_delivery_rate(item),
            )  # fmt: skip
        return found

    def pause(self, workspace_id: str, destination_id: str, *, at: str) -> DestinationRecord | None:
        """Hold the destination's deliveries from now on (design §2.2); pausing a paused destination keeps when it
        was first paused, so a retry after a lost answer changes nothing. None when it does not exist."""
        # Listed in the sparse `paused` index while paused, for the sweep of expired holds (paused_destinations).
        expression = (
            "SET #paused = if_not_exists(#paused, :at), paused_pk = :paused, paused_sk = if_not_exists(paused_sk, :at)"
        )
        return self._set_paused(workspace_id, destination_id, expression, at)

    def resume(self, workspace_id: str, destination_id: str) -> DestinationRecord | None:
        """Send the destination's deliveries again (its held ones are released by the caller); resuming one that is
        not paused changes nothing. None when it does not exist."""
        return self._set_paused(workspace_id, destination_id, "REMOVE #paused, paused_pk, paused_sk", None)

    def paused_destinations(self, *, limit: int, cursor: str | None) -> tuple[list[tuple[str, str]], str | None]:
        """A page of the paused destinations of every workspace, (workspace id, destination id), longest paused first:
        one Query of the sparse `paused` index (only paused destinations are in it, keys only), never a scan."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": PAUSED_INDEX,
            "KeyConditionExpression": "paused_pk = :paused",
            "ExpressionAttributeValues": {":paused": {"S": _PAUSED_PARTITION}},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = json.loads(cursor)
        response = aws.dynamodb().query(**request)
        found = [
            (item["PK"]["S"].removeprefix("WS#"), item["SK"]["S"].removeprefix(keys.DESTINATION_PREFIX))
            for item in response.get("Items", [])
        ]
        last = response.get("LastEvaluatedKey")
        return found, json.dumps(last, separators=(",", ":")) if last else None

    def _set_paused(
        self, workspace_id: str, destination_id: str, expression: str, at: str | None
    ) -> DestinationRecord | None:
        if not is_id(destination_id):
            return None
        client = aws.dynamodb()
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(workspace_id, destination_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": {"#paused": _PAUSED_AT},
            "ReturnValues": "ALL_NEW",
        }
        if at is not None:
            request["ExpressionAttributeValues"] = {":at": {"S": at}, ":paused": {"S": _PAUSED_PARTITION}}
        try:
            response = client.update_item(**request)
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return _from_item(response["Attributes"])

    def record_circuit(self, workspace_id: str, destination_id: str, circuit: CircuitRecord) -> None:
        """Persist the destination's circuit next to its health, for every dispatcher and the API to see."""
        client = aws.dynamodb()
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):  # deleted meanwhile
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, destination_id),
                UpdateExpression="SET circuit = :circuit",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":circuit": _circuit_value(circuit)},
            )

    def record_credentials_expiry(
        self, workspace_id: str, destination_id: str, *, secret_version: str, expires_at: str
    ) -> None:
        """When the destination's current credentials stop working (e.g. an OAuth refresh token's end of life), as
        the dispatcher learned it; tied to the secret version, so replaced credentials never show a stale date."""
        client = aws.dynamodb()
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):  # deleted meanwhile
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, destination_id),
                UpdateExpression="SET credentials_expire_at = :at, credentials_expiry_version = :version",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":at": {"S": expires_at}, ":version": {"S": secret_version}},
            )

    def delete(self, record: DestinationRecord, *, usage_change: dict[str, Any]) -> None:
        """Delete the destination as read (same version) and take it out of the workspace's usage, all or
        nothing; ConcurrentModification when it changed or went meanwhile."""
        delete = {
            "Delete": {
                "TableName": self._table,
                "Key": _key(record.workspace_id, record.id),
                "ConditionExpression": "#v = :expected",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(record.version)}},
            }
        }
        _transact(delete, usage_change)


def _transact(write: dict[str, Any], usage_change: dict[str, Any]) -> None:
    """One destination write and its usage change, all or nothing. The request token makes botocore's retry of a
    commit whose answer was lost succeed instead of failing its own conditions."""
    client = aws.dynamodb()
    try:
        client.transact_write_items(TransactItems=[write, usage_change], ClientRequestToken=str(uuid.uuid4()))  # type: ignore[list-item]
    except client.exceptions.TransactionCanceledException as exc:
        reasons = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
        if reasons[:1] == ["ConditionalCheckFailed"]:
            raise ConcurrentModification("The destination was changed by another request; retry.") from exc
        if reasons[1:2] == ["ConditionalCheckFailed"]:
            raise UsageChanged() from exc
        raise


def _health_cursor(last_key: dict[str, Any]) -> str:
    return encode_fields(
        {
            "pk": last_key["PK"]["S"],
            "sk": last_key["SK"]["S"],
            "state": last_key[_STATE]["S"],
            "since": last_key[_SINCE]["S"],
        }
    )


def _health_cursor_key(cursor: str, state: str) -> dict[str, Any]:
    """The health index key a cursor of `list_by_health` continues from: only a list of the same state, and only at a
    destination's key (InvalidCursor otherwise, design §9.4)."""
    fields = decode_fields(cursor, ("pk", "sk", "state", "since"))
    workspace_id = fields["pk"].removeprefix("WS#")
    destination_id = fields["sk"].removeprefix(keys.DESTINATION_PREFIX)
    try:
        parse_rfc3339(fields["since"])
    except ValueError:
        raise InvalidCursor(INVALID_CURSOR_MESSAGE) from None
    if (
        fields["state"] != state
        or fields["pk"] != keys.workspace_pk(workspace_id)
        or not is_platform_id(workspace_id)
        or fields["sk"] != keys.destination_sk(destination_id)
        or not is_id(destination_id)
    ):
        raise InvalidCursor(INVALID_CURSOR_MESSAGE)
    return {
        "PK": {"S": fields["pk"]},
        "SK": {"S": fields["sk"]},
        _STATE: {"S": fields["state"]},
        _SINCE: {"S": fields["since"]},
    }


def _key(workspace_id: str, destination_id: str) -> dict[str, Any]:
    return {"PK": {"S": keys.workspace_pk(workspace_id)}, "SK": {"S": keys.destination_sk(destination_id)}}


def _health_names(action_id: str) -> tuple[str, str, str, str, str]:
    """The item attributes holding one action's last success, last failure, consecutive failures, failing state
    and when that state began."""
    return f"hs_{action_id}", f"hf_{action_id}", f"hc_{action_id}", f"hx_{action_id}", f"ht_{action_id}"


def _to_item(record: DestinationRecord) -> dict[str, Any]:
    # The document is stored as JSON text: exact round-trip of mapping values (no Decimal coercion). UTF-8, not
    # \u-escaped (an escape takes 6 bytes for a 2-byte character), and never NaN/Infinity, which are not JSON.
    doc = {name: getattr(record, name) for name in _DOC_FIELDS}
    doc["actions"] = [asdict(action) for action in record.actions]
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)
    item = {
        **_key(record.workspace_id, record.id),
        "entity": {"S": "destination"},
        "version": {"N": str(record.version)},
        "doc": {"S": text},
    }
    if record.delivery_rate is not None:
        item[_DELIVERY_RATE] = {"N": str(record.delivery_rate)}
    return item


def _delivery_rate(item: dict[str, Any]) -> int | None:
    return int(item[_DELIVERY_RATE]["N"]) if _DELIVERY_RATE in item else None


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
        destination_health=_destination_health(item),
        circuit=_circuit(item),
        credentials_expire_at=_credentials_expiry(item, doc.get("secret_version")),
        paused_at=item[_PAUSED_AT]["S"] if _PAUSED_AT in item else None,
        delivery_rate=_delivery_rate(item),
        **{name: doc[name] for name in _DOC_FIELDS},
    )


def _credentials_expiry(item: dict[str, Any], secret_version: str | None) -> str | None:
    # Only the expiry learned for the credentials the destination holds now counts.
    if item.get("credentials_expiry_version", {}).get("S") != secret_version:
        return None
    return str(item["credentials_expire_at"]["S"]) if "credentials_expire_at" in item else None


def _circuit_value(circuit: CircuitRecord) -> dict[str, Any]:
    value: dict[str, Any] = {"state": {"S": circuit.state}}
    for name in ("opened_at", "until", "closed_at"):
        moment = getattr(circuit, name)
        if moment is not None:
            value[name] = {"N": f"{moment:.3f}"}
    return {"M": value}


def _circuit(item: dict[str, Any]) -> CircuitRecord | None:
    value = item.get("circuit", {}).get("M")
    if value is None:
        return None
    return CircuitRecord(
        state=value["state"]["S"],
        opened_at=float(value["opened_at"]["N"]) if "opened_at" in value else None,
        until=float(value["until"]["N"]) if "until" in value else None,
        closed_at=float(value["closed_at"]["N"]) if "closed_at" in value else None,
    )


def _health(item: dict[str, Any]) -> dict[str, ActionHealth]:
    """Per-action health from the attributes named by `_health_names`."""
    health: dict[str, ActionHealth] = {}
    for name, value in item.items():
        kind, _, action_id = name.partition("_")
        if kind not in ("hs", "hf", "hc", "hx", "ht") or not action_id:
            continue
        entry = health.setdefault(action_id, ActionHealth())
        if kind == "hs":
            entry.last_success_at = value["S"]
        elif kind == "hf":
            entry.last_failure_at = value["S"]
        elif kind == "hc":
            entry.consecutive_failures = int(value["N"])
        elif kind == "hx":
            entry.failing = value["S"] == _FAILING
        else:
            entry.since = value["S"]
    return health


def _destination_health(item: dict[str, Any]) -> DestinationHealth:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value["S"] if value else None

    state = text(_STATE)
    return DestinationHealth(
        state="disabled" if state == _DISABLED else "failing" if state == _FAILING else "healthy",
        since=text(_SINCE),
        consecutive_failures=int(item[_FAILURES]["N"]) if _FAILURES in item else 0,
        last_success_at=text(_SUCCESS_AT),
        last_failure_at=text(_FAILURE_AT),
        run_started_at=text(_RUN_START),
        disabled_reason=text(_REASON),
    )
