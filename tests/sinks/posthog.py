"""A PostHog capture stand-in (`POST /batch/`), answering as PostHog documents.

* Path other than /batch/ → 404; not `application/json` → 400 "failed to decode request"; invalid JSON → 400
  "failed to parse request"; over 20 MB → 413.
* `api_key` missing → 401 "event submitted without an api_key"; unknown → 401 `{"type": "authentication_error",
  "code": "invalid_api_key", "detail": ...}`.
* `batch` missing or empty → 400 "request holds no event"; `historical_migration` not a boolean → 400 "failed to
  parse request" (capture deserialises it as one).
* Events of a request with `"historical_migration": true` take PostHog's historical ingestion path: they land in
  `historical` as well as `accepted` (https://posthog.com/docs/api/capture).
* Events PostHog silently does not ingest still get 200 and land in `dropped` with why: no `event`, no or empty
  `distinct_id` (top level or in properties), a `uuid` that is not a UUID, a `timestamp` that is not ISO 8601.
* With `quota_limited=True` the project is over its billing limit: 200 `{"status": "Ok", "quota_limited":
  ["events"]}` and every event is dropped.
* Otherwise 200 `{"status": "Ok"}`; ingested events are in `accepted`; a repeated `uuid` is ingested once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

PATH = "/batch/"
MAX_BODY_BYTES = 20 * 1024 * 1024
INVALID_API_KEY = {
    "type": "authentication_error",
    "code": "invalid_api_key",
    "detail": "Project API key invalid. You can find your project API key in PostHog project settings.",
}


@dataclass
class DroppedEvent:
    reason: str
    event: Any


@dataclass
class PostHogSink:
    api_key: str
    quota_limited: bool = False
    accepted: list[dict[str, Any]] = field(default_factory=list)
    historical: list[dict[str, Any]] = field(default_factory=list)  # accepted through the historical path
    dropped: list[DroppedEvent] = field(default_factory=list)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method != "POST" or request.path != PATH:
            return SinkResponse(404, "Not Found")
        if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
            return SinkResponse(400, "failed to decode request: unsupported content type")
        if len(request.body) > MAX_BODY_BYTES:
            return SinkResponse(413, "request too large")
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            return SinkResponse(400, f"failed to parse request: {exc}")
        if not isinstance(body, dict) or not body.get("api_key"):
            return SinkResponse(401, "event submitted without an api_key")
        if body["api_key"] != self.api_key:
            return SinkResponse(401, INVALID_API_KEY)
        batch = body.get("batch")
        if not isinstance(batch, list) or not batch:
            return SinkResponse(400, "request holds no event")
        historical = body.get("historical_migration", False)
        if not isinstance(historical, bool):
            return SinkResponse(400, "failed to parse request: historical_migration: invalid type, expected a boolean")
        if self.quota_limited:
            self.dropped.extend(DroppedEvent("billing limit reached", event) for event in batch)
            return SinkResponse(200, {"status": "Ok", "quota_limited": ["events"]})
        for event in batch:
            self._ingest(event, historical)
        return SinkResponse(200, {"status": "Ok"})

    def _ingest(self, event: Any, historical: bool) -> None:
        reason = _drop_reason(event)
        if reason:
            self.dropped.append(DroppedEvent(reason, event))
        elif event.get("uuid") is None or all(seen.get("uuid") != event["uuid"] for seen in self.accepted):
            self.accepted.append(event)
            if historical:
                self.historical.append(event)


def _drop_reason(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "not an object"
    if not event.get("event"):
        return "event has no name"
    properties = event.get("properties")
    nested_id = properties.get("distinct_id") if isinstance(properties, dict) else None
    if not (event.get("distinct_id") or nested_id):
        return "event has no distinct_id"
    if event.get("uuid") is not None:
        try:
            uuid.UUID(str(event["uuid"]))
        except ValueError:
            return "invalid uuid"
    if event.get("timestamp") is not None:
        try:
            datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
        except ValueError:
            return "timestamp is not ISO 8601"
    return None


def posthog_sink(api_key: str, *, quota_limited: bool = False) -> PostHogSink:
    """A handler for `Sink(...)` emulating one PostHog project (`api_key`)."""
    return PostHogSink(api_key, quota_limited)
