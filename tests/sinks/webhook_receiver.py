"""A customer's webhook receiver for Generic HTTP deliveries, written only from the documented contract.

It verifies `X-Nim-Signature` with hmac/hashlib directly (never through our `sign` helper, so a drift between the
adapter and the published algorithm fails here), accepting a request when any signature the header lists (two,
newest first, during a signing-secret rotation) matches its secret, checks every `X-Nim-*` header against the
envelope, refuses stale timestamps, and records what it accepted.
Usage: `with Sink(webhook_receiver(secret)) as sink: ...`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

ENVELOPE_KEYS = frozenset({"id", "type", "api_version", "created_at", "organization_id", "workspace_id", "data"})
DELIVERY_REASONS = frozenset({"live", "retry", "replay", "test"})
TEST_EVENT_TYPE = "nim.webhook.test"
_SIGNATURES = re.compile(r"v1=[0-9a-f]{64}( v1=[0-9a-f]{64})*")
_RFC3339_MILLIS_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@dataclass(frozen=True)
class VerifiedDelivery:
    event_id: str
    event_type: str
    timestamp: int
    attempt: int
    reason: str
    envelope: dict[str, Any]
    headers: dict[str, str]


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class WebhookReceiver:
    """Sink handler; `verified` and `rejections` record what arrived."""

    secret: str
    method: str = "POST"
    tolerance_seconds: int = 300
    required_headers: Mapping[str, str] = field(default_factory=dict)  # custom headers that must arrive verbatim
    clock: Callable[[], float] = time.time
    verified: list[VerifiedDelivery] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        try:
            delivery = self._verify(request)
        except Rejected as rejected:
            self.rejections.append(rejected.reason)
            return SinkResponse(rejected.status, {"error": rejected.reason})
        self.verified.append(delivery)
        return SinkResponse(200, {"received": True})

    def _verify(self, request: SinkRequest) -> VerifiedDelivery:
        if request.method != self.method:
            raise Rejected(405, f"method {request.method} is not {self.method}")
        headers = request.headers
        missing = [name for name in _NIM_HEADERS if not headers.get(name)]
        if missing:
            raise Rejected(400, f"missing headers: {', '.join(missing)}")
        timestamp = self._fresh_timestamp(headers["x-nim-timestamp"])
        self._check_signature(headers["x-nim-signature"], timestamp, request.body)  # before parsing the body
        for name, value in self.required_headers.items():
            if headers.get(name.lower()) != value:
                raise Rejected(401, f"custom header {name} missing or wrong")
        if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
            raise Rejected(415, "content type is not application/json")
        envelope = _envelope(request.body)
        attempt, reason = _delivery_headers(headers)
        _check_envelope_matches_headers(envelope, headers, reason)
        return VerifiedDelivery(
            event_id=envelope["id"],
            event_type=envelope["type"],
            timestamp=timestamp,
            attempt=attempt,
            reason=reason,
            envelope=envelope,
            headers=dict(headers),
        )

    def _fresh_timestamp(self, raw: str) -> int:
        if not raw.isdigit():
            raise Rejected(400, "X-Nim-Timestamp is not Unix seconds")
        timestamp = int(raw)
        if abs(self.clock() - timestamp) > self.tolerance_seconds:
            raise Rejected(401, "X-Nim-Timestamp is outside the tolerance window")
        return timestamp

    def _check_signature(self, header: str, timestamp: int, body: bytes) -> None:
        if not _SIGNATURES.fullmatch(header):
            raise Rejected(401, "X-Nim-Signature is not v1=<64 lowercase hex> (space-separated when several)")
        expected = hmac.new(self.secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(listed, "v1=" + expected) for listed in header.split(" ")):
            raise Rejected(401, "signature mismatch")


_NIM_HEADERS = (
    "x-nim-event-id",
    "x-nim-event-type",
    "x-nim-timestamp",
    "x-nim-delivery-attempt",
    "x-nim-delivery-reason",
    "x-nim-signature",
)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except ValueError:
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(envelope, dict) or set(envelope) != ENVELOPE_KEYS:
        raise Rejected(400, f"envelope keys must be exactly {sorted(ENVELOPE_KEYS)}")
    if not isinstance(envelope["data"], dict):
        raise Rejected(400, "envelope data is not an object")
    if not _RFC3339_MILLIS_UTC.fullmatch(str(envelope["created_at"])):
        raise Rejected(400, "created_at is not RFC 3339 UTC with milliseconds")
    return envelope


def _delivery_headers(headers: Mapping[str, str]) -> tuple[int, str]:
    attempt_text, reason = headers["x-nim-delivery-attempt"], headers["x-nim-delivery-reason"]
    if not attempt_text.isdigit() or int(attempt_text) < 1:
        raise Rejected(400, "X-Nim-Delivery-Attempt is not a 1-based number")
    if reason not in DELIVERY_REASONS:
        raise Rejected(400, f"X-Nim-Delivery-Reason {reason!r} is unknown")
    return int(attempt_text), reason


def _check_envelope_matches_headers(envelope: Mapping[str, Any], headers: Mapping[str, str], reason: str) -> None:
    if envelope["id"] != headers["x-nim-event-id"]:
        raise Rejected(400, "X-Nim-Event-Id differs from the body id")
    if envelope["type"] != headers["x-nim-event-type"]:
        raise Rejected(400, "X-Nim-Event-Type differs from the body type")
    if (reason == "test") != (envelope["type"] == TEST_EVENT_TYPE):
        raise Rejected(400, f"only test deliveries carry {TEST_EVENT_TYPE}")


def webhook_receiver(
    secret: str,
    *,
    method: str = "POST",
    required_headers: Mapping[str, str] | None = None,
    tolerance_seconds: int = 300,
    clock: Callable[[], float] = time.time,
) -> WebhookReceiver:
    """A receiver that accepts only deliveries signed with `secret` and carrying `required_headers`."""
    return WebhookReceiver(
        secret=secret,
        method=method,
        tolerance_seconds=tolerance_seconds,
        required_headers=dict(required_headers or {}),
        clock=clock,
    )
