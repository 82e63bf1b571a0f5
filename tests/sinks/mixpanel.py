"""A Mixpanel ingestion stand-in: `/import` and `/track` (https://docs.mixpanel.com/reference/import-events,
https://docs.mixpanel.com/reference/track-event).

`/import` (import reference, strict mode):
* HTTP Basic with the service account (`username:secret`) and `project_id` in the query, or with the project token
  as the username and an empty password (no `project_id` needed); else 401. `strict=1` turns per-event validation
  on. JSON array body (`application/json`), at most 2000 events and 10 MB, else 413. Any event time after
  1971-01-01 is accepted, however old.
* Strict validation per event: `event` a non-empty string; `properties.time` seconds or milliseconds, after
  1971-01-01 and at most 1 hour in the future; `properties.distinct_id` a string that is not a placeholder
  (anon, null, undefined, ...); `properties.$insert_id` ≤ 36 characters of [A-Za-z0-9-].
* Some events invalid → 400 `{"code": 400, "error": ..., "num_records_imported", "failed_records": [{index,
  insert_id, field, message}]}` and the valid events ARE imported (partial success); all valid → 200
  `{"code": 200, "num_records_imported", "status": "OK"}`.

`/track` (`verbose=1` answers JSON, else a bare 1/0): the token is in each event's `properties.token` and is not
validated by the answer (Mixpanel answers 1 when one event is well-formed), but events for another token, older
than 5 days, or whose `time` is not in seconds land in `dropped`: Mixpanel drops them silently. No well-formed
event → status 0 with an error. At most 2000 events and 2 MB, else 413.

Imported/tracked events are in `accepted`, deduplicated on (event, distinct_id, time, $insert_id) like Mixpanel.
Over the rate limit (`rate_limited`, scripted by tests): Mixpanel's documented 429 body, no Retry-After.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

MAX_EVENTS = 2000
MAX_IMPORT_BYTES = 10_000_000
MAX_TRACK_BYTES = 2_000_000
TRACK_MAX_AGE_SECONDS = 5 * 24 * 3600
_EARLIEST = 31_536_000  # 1971-01-01 in seconds
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
PLACEHOLDER_IDS = frozenset(
    {"anon", "anonymous", "nil", "none", "null", "n/a", "undefined", "00000000-0000-0000-0000-000000000000"}
)


@dataclass
class DroppedEvent:
    reason: str
    event: Any


@dataclass
class MixpanelSink:
    project_token: str
    project_id: str
    username: str
    secret: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[DroppedEvent] = field(default_factory=list)
    _keys: set[tuple[Any, ...]] = field(default_factory=set)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method != "POST" or request.path not in ("/import", "/track"):
            return SinkResponse(404, {"error": "not found"})
        limit = MAX_IMPORT_BYTES if request.path == "/import" else MAX_TRACK_BYTES
        if len(request.body) > limit:
            return _error(413, "request body too large", "Payload Too Large")
        if request.path == "/import" and not self._authorized(request):
            return _error(
                401, "Invalid credentials: a service account with project_id, or the project token", "Unauthorized"
            )
        if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
            return _error(400, "Content-Type must be application/json", "Bad Request")
        try:
            events = json.loads(request.body)
        except ValueError:
            return _error(400, "unable to parse request body", "Bad Request")
        if not isinstance(events, list):
            return _error(400, "the body must be a JSON array", "Bad Request")
        if len(events) > MAX_EVENTS:
            return _error(413, f"too many events: {len(events)} > {MAX_EVENTS}", "Payload Too Large")
        if request.path == "/import":
            return self._import(events, strict=request.query.get("strict") == ["1"])
        return self._track(events, verbose=request.query.get("verbose") == ["1"])

    def _authorized(self, request: SinkRequest) -> bool:
        authorization = request.header("authorization")
        service_account = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
        if authorization == f"Basic {service_account}":
            return request.query.get("project_id") == [self.project_id]
        project_token = base64.b64encode(f"{self.project_token}:".encode()).decode()
        return authorization == f"Basic {project_token}"

    def _import(self, events: list[Any], *, strict: bool) -> SinkResponse:
        failed = []
        for index, event in enumerate(events):
            problem = _import_problem(event) if strict else None
            if problem:
                insert_id = (event.get("properties") or {}).get("$insert_id") if isinstance(event, dict) else None
                failed.append({"index": index, "insert_id": insert_id, "field": problem[0], "message": problem[1]})
            else:
                self._accept(event)
        imported = len(events) - len(failed)
        if failed:
            return SinkResponse(
                400,
                {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "status": "Bad Request",
                    "num_records_imported": imported,
                    "failed_records": failed,
                },
            )
        return SinkResponse(200, {"code": 200, "num_records_imported": imported, "status": "OK"})

    def _track(self, events: list[Any], *, verbose: bool) -> SinkResponse:
        well_formed = 0
        for event in events:
            properties = event.get("properties") if isinstance(event, dict) else None
            if (
                not isinstance(properties, dict)
                or not event.get("event")
                or not isinstance(properties.get("token"), str)
            ):
                self.dropped.append(DroppedEvent("malformed event", event))
                continue
            well_formed += 1
            reason = self._track_drop_reason(properties)
            if reason:
                self.dropped.append(DroppedEvent(reason, event))
            else:
                self._accept(event)
        if verbose:
            error = None if well_formed else "no well-formed event: each needs event and properties.token"
            return SinkResponse(200, {"status": 1 if well_formed else 0, "error": error})
        return SinkResponse(200, "1" if well_formed else "0")

    def _track_drop_reason(self, properties: dict[str, Any]) -> str | None:
        if properties["token"] != self.project_token:
            return "unknown project token"
        event_time = properties.get("time")
        if event_time is None:
            return None
        if isinstance(event_time, bool) or not isinstance(event_time, int | float) or event_time > 10**11:
            return "time is not in seconds"
        if event_time < time.time() - TRACK_MAX_AGE_SECONDS:
            return "older than 5 days"
        return None

    def _accept(self, event: dict[str, Any]) -> None:
        properties = event.get("properties") or {}
        key = (event.get("event"), properties.get("distinct_id"), properties.get("time"), properties.get("$insert_id"))
        if properties.get("$insert_id") is None or key not in self._keys:
            self._keys.add(key)
            self.accepted.append(event)


def _import_problem(event: Any) -> tuple[str, str] | None:
    """(field, message) of the first strict-mode rule the event breaks."""
    if not isinstance(event, dict) or not isinstance(event.get("event"), str) or not event["event"]:
        return "event", "'event' must be a non-empty string"
    properties = event.get("properties")
    if not isinstance(properties, dict):
        return "properties", "'properties' must be an object"
    event_time = properties.get("time")
    seconds = event_time / 1000 if isinstance(event_time, int | float) and event_time > 10**11 else event_time
    if isinstance(event_time, bool) or not isinstance(seconds, int | float):
        return "properties.time", "'properties.time' is required: seconds or milliseconds since epoch"
    if seconds < _EARLIEST or seconds > time.time() + 3600:
        return "properties.time", "'properties.time' is before 1971 or more than 1 hour in the future"
    distinct_id = properties.get("distinct_id")
    if not isinstance(distinct_id, str) or distinct_id.lower() in PLACEHOLDER_IDS:
        return "properties.distinct_id", "'properties.distinct_id' is missing or a placeholder value"
    insert_id = properties.get("$insert_id")
    if not isinstance(insert_id, str) or not _INSERT_ID.fullmatch(insert_id):
        return "properties.$insert_id", "'properties.$insert_id' must be ≤ 36 characters of [A-Za-z0-9-]"
    return None


def rate_limited() -> SinkResponse:
    """Mixpanel's answer to a project over its ingestion rate limit, as its 429 page shows it
    (docs.mixpanel.com/troubleshooting/errors/429-rate-limit-exceeded, "What the Response Looks Like"), with no
    Retry-After: "The API reference doesn't document a `Retry-After` header. Compute your own backoff interval"."""
    return _error(
        429, "Project exceeded rate limits. Please retry the request with exponential backoff.", "Too Many Requests"
    )


def _error(status: int, error: str, status_text: str) -> SinkResponse:
    return SinkResponse(status, {"code": status, "error": error, "status": status_text})


def mixpanel_sink(project_token: str, project_id: str, username: str, secret: str) -> MixpanelSink:
    """A handler for `Sink(...)` emulating one Mixpanel project with one service account."""
    return MixpanelSink(project_token, project_id, username, secret)
