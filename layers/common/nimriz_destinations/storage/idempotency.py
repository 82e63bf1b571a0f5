"""Idempotency records: what a request sent with an `Idempotency-Key` header answered, kept 24 hours per workspace.

One item per (workspace, key), `IDEM#WS#<workspace>#<sha256 of the key>` / `IDEM` (the key's text never goes into
a DynamoDB key, design §9.4), holding the request's fingerprint, a random nonce, and once the request is done its
recorded answer. It is claimed with a conditional put, so of two requests with the same key exactly one does the
work; the other finds the record (design §9.7). Items expire through the table's `ttl` attribute; DynamoDB deletes
expired items up to a few days late, so an expired record counts as absent everywhere here.

What is recorded never holds a secret: an answer that carries one derives it from the nonce (service/idempotency.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import aws
from . import keys

# How long a key identifies its request (Stripe's idempotency window is the same 24 hours).
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
NONCE_BYTES = 32


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str  # SHA-256 of what made the request (service/idempotency.py `fingerprint`)
    nonce: bytes
    answer: dict[str, Any] | None  # None while the request that claimed the key is still at work
    lease_until: float  # until when that request holds the key; after, a retry may take the work over


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request holds the key and does the work, with this nonce (a fresh one, or that of a request whose lease
    ended without an answer: then its work may be half done, and doing it again must recognise that)."""

    nonce: bytes


@dataclass(frozen=True, slots=True)
class Found:
    """Another request made the record first (done, or still at work)."""

    record: IdempotencyRecord


class IdempotencyStore:
    def __init__(self, table_name: str, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table_name
        self._clock = clock

    def claim(
        self, workspace_id: str, idempotency_key: str, fingerprint: str, *, lease_seconds: float
    ) -> Claimed | Found:
        now = self._clock()
        nonce = secrets.token_bytes(NONCE_BYTES)
        client = aws.dynamodb()
        try:
            client.put_item(
                TableName=self._table,
                Item={
                    **_key(workspace_id, idempotency_key),
                    "fingerprint": {"S": fingerprint},
                    "nonce": {"B": nonce},
                    "lease_until": {"N": str(now + lease_seconds)},
                    "ttl": {"N": str(int(now) + IDEMPOTENCY_WINDOW_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(PK) OR #ttl <= :now",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            record = _record(exc.response.get("Item") or {})  # type: ignore[arg-type]
            if record.answer is None and record.fingerprint == fingerprint and record.lease_until <= now:
                return self._take_over(workspace_id, idempotency_key, record, now + lease_seconds)
            return Found(record)
        return Claimed(nonce)

    def _take_over(
        self, workspace_id: str, idempotency_key: str, record: IdempotencyRecord, lease_until: float
    ) -> Claimed | Found:
        client = aws.dynamodb()
        try:
            client.update_item(
                TableName=self._table,
                Key=_key(workspace_id, idempotency_key),
                UpdateExpression="SET lease_until = :lease_until",
                ConditionExpression="lease_until = :seen AND attribute_not_exists(answer)",
                ExpressionAttributeValues={
                    ":lease_until": {"N": str(lease_until)},
                    ":seen": {"N": str(record.lease_until)},
                },
            )
        except client.exceptions.ConditionalCheckFailedException:
            return Found(record)  # another retry took it over first: it is at work
        return Claimed(record.nonce)

    def complete(self, workspace_id: str, idempotency_key: str, nonce: bytes, answer: dict[str, Any]) -> None:
        """Record the answer of the request holding the key (known by its nonce)."""
        aws.dynamodb().update_item(
            TableName=self._table,
            Key=_key(workspace_id, idempotency_key),
            UpdateExpression="SET answer = :answer REMOVE lease_until",
            ConditionExpression="nonce = :nonce",
            ExpressionAttributeValues={":answer": {"S": json.dumps(answer)}, ":nonce": {"B": nonce}},
        )

    def release(self, workspace_id: str, idempotency_key: str, nonce: bytes) -> None:
        """Forget a claim whose work failed, so that a retry with the same key does the work again."""
        client = aws.dynamodb()
        # A failed condition: a retry took the claim over after our lease ended; the record is its own now.
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
            client.delete_item(
                TableName=self._table,
                Key=_key(workspace_id, idempotency_key),
                ConditionExpression="nonce = :nonce AND attribute_not_exists(answer)",
                ExpressionAttributeValues={":nonce": {"B": nonce}},
            )


def _key(workspace_id: str, idempotency_key: str) -> dict[str, Any]:
    key_hash = hashlib.sha256(idempotency_key.encode()).hexdigest()
    return {"PK": {"S": keys.idempotency_pk(workspace_id, key_hash)}, "SK": {"S": keys.IDEMPOTENCY_SK}}


def _record(item: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        fingerprint=item["fingerprint"]["S"],
        nonce=bytes(item["nonce"]["B"]),
        answer=json.loads(item["answer"]["S"]) if "answer" in item else None,
        lease_until=float(item["lease_until"]["N"]) if "lease_until" in item else 0.0,
    )
