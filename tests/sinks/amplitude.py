"""An Amplitude HTTP V2 API stand-in (`POST /2/httpapi`), answering with Amplitude's documented bodies
(https://amplitude.com/docs/apis/analytics/http-v2).

* Path other than /2/httpapi → 400 "Invalid request path"; not `application/json` or not JSON → 400 "Invalid JSON
  request body"; no `api_key` → 400 "Request missing required field" (missing_field); wrong key → 400 "Invalid API
  key"; no `events` list → 400 missing_field "events".
* 1 MB or more, or more than 2000 events → 413 "Payload too large".
* Per event: `event_type` required; a `user_id` or `device_id`; `time` an integer in milliseconds; `insert_id` a
  string; `revenue` / `price` numbers. Each `user_id` / `device_id` present must be a string of at least 5
  characters: a shorter one is listed in `events_with_invalid_id_lengths` (error "Invalid id length for user_id or
  device_id"), the others in `events_with_invalid_fields` / `events_with_missing_fields`. Any failure rejects the
  whole request with 400 and the indices per field: nothing is ingested (Amplitude: "remove those events and resend
  the rest").
* An event of a device in `silenced_devices` → 400 "Events silenced for device_id" with `silenced_devices` and
  `silenced_events` (its indices). Nothing is ingested.
* An event of a device in `throttled_devices` → 429 with `throttled_devices` and `throttled_events` (Amplitude
  sends no Retry-After; it documents a 30 s pause). Nothing is ingested.
* 200 `{"code": 200, "events_ingested", "payload_size_bytes", "server_upload_time"}`. Ingested events are in
  `accepted`; an event repeating a (device_id, insert_id) pair is ignored, as Amplitude's 7-day dedup does.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

PATH = "/2/httpapi"
MAX_BODY_BYTES = 1_000_000
MAX_EVENTS = 2000
MIN_ID_LENGTH = 5


def _error(status: int, error: str, **details: Any) -> SinkResponse:
    return SinkResponse(status, {"code": status, "error": error, **details})


@dataclass
class AmplitudeSink:
    api_key: str
    throttled_devices: set[str] = field(default_factory=set)
    silenced_devices: set[str] = field(default_factory=set)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[Any, Any]] = field(default_factory=set)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method != "POST" or request.path != PATH:
            return _error(400, "Invalid request path")
        if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
            return _error(400, "Invalid JSON request body")
        if len(request.body) >= MAX_BODY_BYTES:
            return _error(413, "Payload too large")
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error(400, "Invalid JSON request body")
        if not isinstance(body, dict) or "api_key" not in body:
            return _error(400, "Request missing required field", missing_field="api_key")
        if body["api_key"] != self.api_key:
            return _error(400, "Invalid API key")
        events = body.get("events")
        if not isinstance(events, list):
            return _error(400, "Request missing required field", missing_field="events")
        if len(events) > MAX_EVENTS:
            return _error(413, "Payload too large")
        return self._ingest(events, len(request.body))

    def _ingest(self, events: list[Any], size: int) -> SinkResponse:
        by_problem: dict[str, dict[str, list[int]]] = {"missing": {}, "invalid": {}, "id_length": {}}
        for index, event in enumerate(events):
            for field_name, problem in _event_problems(event):
                by_problem[problem].setdefault(field_name, []).append(index)
        if any(by_problem.values()):
            if by_problem["invalid"]:
                error = "Invalid field values on some events"
            elif by_problem["id_length"]:
                error = "Invalid id length for user_id or device_id"
            else:
                error = "Request missing required field"
            return _error(
                400,
                error,
                events_with_invalid_fields=by_problem["invalid"],
                events_with_missing_fields=by_problem["missing"],
                events_with_invalid_id_lengths=by_problem["id_length"],
            )
        silenced = [index for index, event in enumerate(events) if event.get("device_id") in self.silenced_devices]
        if silenced:
            devices = sorted({events[index]["device_id"] for index in silenced})
            return _error(400, "Events silenced for device_id", silenced_devices=devices, silenced_events=silenced)
        throttled = [index for index, event in enumerate(events) if event.get("device_id") in self.throttled_devices]
        if throttled:
            # https://amplitude.com/docs/apis/analytics/http-v2: "User or device | 30 events per second for each user_id
            # or device_id"; Amplitude's FAQ: pause sending for that user or device "for 30 seconds before retrying".
            # The fields are those Amplitude's SDKs read from a 429 (Amplitude-Python's Response); no Retry-After.
            return _error(
                429,
                "Too many requests for some devices and users",
                eps_threshold=30,
                throttled_devices=dict.fromkeys(self.throttled_devices, 31),
                throttled_users={},
                throttled_events=throttled,
            )
        for event in events:
            key = (event.get("device_id"), event.get("insert_id"))
            if event.get("insert_id") is None or key not in self._seen:
                self._seen.add(key)
                self.accepted.append(event)
        return SinkResponse(
            200,
            {
                "code": 200,
                "events_ingested": len(events),
                "payload_size_bytes": size,
                "server_upload_time": int(time.time() * 1000),
            },
        )


def _event_problems(event: Any) -> list[tuple[str, str]]:
    """(field, "missing" | "invalid" | "id_length") for each documented rule the event breaks."""
    if not isinstance(event, dict):
        return [("event_type", "missing")]
    problems: list[tuple[str, str]] = []
    if not event.get("event_type"):
        problems.append(("event_type", "missing"))
    ids = {key: event.get(key) for key in ("user_id", "device_id") if event.get(key) is not None}
    if not ids:
        problems.append(("device_id", "missing"))
    problems += [
        (key, "id_length") for key, value in ids.items() if not isinstance(value, str) or len(value) < MIN_ID_LENGTH
    ]
    event_time = event.get("time")
    if event_time is not None and (
        isinstance(event_time, bool) or not isinstance(event_time, int) or event_time < 10**12
    ):
        problems.append(("time", "invalid"))
    if "insert_id" in event and not isinstance(event["insert_id"], str):
        problems.append(("insert_id", "invalid"))
    problems += [
        (key, "invalid")
        for key in ("revenue", "price")
        if key in event and (isinstance(event[key], bool) or not isinstance(event[key], int | float))
    ]
    return problems


def amplitude_sink(
    api_key: str, *, throttled_devices: set[str] | None = None, silenced_devices: set[str] | None = None
) -> AmplitudeSink:
    """A handler for `Sink(...)` emulating one Amplitude project (`api_key`)."""
    return AmplitudeSink(api_key, set(throttled_devices or ()), set(silenced_devices or ()))
