"""A Segment Tracking API stand-in: checks requests the way Segment documents and answers like it.

* Paths: POST /v1/track and /v1/batch only (404 otherwise); `Content-Type: application/json`.
* Auth: HTTP Basic with the write key as user name and an empty password, or `writeKey` in the body. Real Segment
  answers 200 even for unknown keys (it validates them downstream); this sink answers 401 so a wrong key is visible.
* Limits: 32 KB per event and 500 KB per batch request → 400 with Segment's `{"code", "message"}` error body (the
  docs give 400 for both; the message for an oversized event is Segment's "Exceed payload limit"). Invalid JSON → 400.
* Messages Segment silently drops (no `type` in a batch item, no `event`, neither `anonymousId` nor `userId`, more
  than 2500 in a batch) still get 200, as from Segment, and land in `dropped` with why. This sink also drops a
  message without `messageId` (Segment would invent one, losing dedup across retries).
* Success: `{"success": true}`; every accepted message is in `accepted`.
* Over the rate limit (`rate_limited`, scripted by tests): 429 with `Retry-After` and `X-RateLimit-Reset` in seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
PATHS = ("/v1/track", "/v1/batch")


@dataclass
class DroppedMessage:
    reason: str
    message: Any


@dataclass
class SegmentSink:
    """Sink handler for one Segment source (one write key)."""

    write_key: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[DroppedMessage] = field(default_factory=list)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method != "POST" or request.path not in PATHS:
            return _error(404, "not_found", f"no route for {request.method} {request.path}")
        if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
            return _error(400, "invalid_request", "Content-Type must be application/json")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error(400, "invalid_request", "Invalid JSON")
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "the body must be a JSON object")
        if not self._authorized(request, body):
            return _error(401, "unauthorized", "invalid or missing write key")
        if request.path == "/v1/track":
            return self._track(request.body, body)
        return self._batch(request.body, body)

    def _authorized(self, request: SinkRequest, body: dict[str, Any]) -> bool:
        if body.get("writeKey") == self.write_key:
            return True
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme != "Basic":
            return False
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.write_key}:"

    def _track(self, raw: bytes, message: dict[str, Any]) -> SinkResponse:
        if len(raw) > MAX_EVENT_BYTES:
            return _error(400, "invalid_request", "Exceed payload limit")
        self._accept({"type": "track", **message})
        return _success()

    def _batch(self, raw: bytes, body: dict[str, Any]) -> SinkResponse:
        if len(raw) > MAX_BATCH_BYTES:
            return _error(400, "invalid_request", "Exceed payload limit")
        batch = body.get("batch")
        if not isinstance(batch, list):
            return _error(400, "invalid_request", "batch must be a list")
        if any(_serialized_size(message) > MAX_EVENT_BYTES for message in batch):
            return _error(400, "invalid_request", "Exceed payload limit")
        if len(batch) > MAX_BATCH_EVENTS:
            self.dropped.extend(DroppedMessage("batch over 2500 events", message) for message in batch)
            return _success()
        for message in batch:
            self._accept(message)
        return _success()

    def _accept(self, message: Any) -> None:
        reason = _drop_reason(message)
        if reason:
            self.dropped.append(DroppedMessage(reason, message))
        else:
            self.accepted.append(message)


def _drop_reason(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "not an object"
    if message.get("type") != "track":
        return "type is not track"
    if not message.get("event"):
        return "track event is missing name"
    if not (message.get("anonymousId") or message.get("userId")):
        return "no_user_anon_id"
    if not message.get("messageId"):
        return "no messageId"
    return None


def _serialized_size(message: Any) -> int:
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


def rate_limited(seconds: int) -> SinkResponse:
    """Segment's answer to a source over its rate limit. HTTP API Source docs, "Rate limits"
    (segment.com/docs/connections/sources/catalog/libraries/server/http-api/#rate-limits): "Requests that exceed
    acceptable limits may be rejected with HTTP Status Code 429. When Segment rejects the requests, the response header
    contains `Retry-After` and `X-RateLimit-Reset` headers, which contains the number of seconds after which you can
    retry the request." The docs give no body for it, so none is sent."""
    return SinkResponse(429, b"", {"Retry-After": str(seconds), "X-RateLimit-Reset": str(seconds)})


def _error(status: int, code: str, message: str) -> SinkResponse:
    return SinkResponse(status, {"code": code, "message": message})


def _success() -> SinkResponse:
    return SinkResponse(200, {"success": True})


def segment_sink(write_key: str) -> SegmentSink:
    """A handler for `Sink(...)` that accepts requests authenticated with `write_key`."""
    return SegmentSink(write_key)
