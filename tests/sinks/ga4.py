"""A GA4 Measurement Protocol stand-in: `/mp/collect` and the validation server `/debug/mp/collect`
(https://developers.google.com/analytics/devguides/collection/protocol/ga4/validating-events).

* Routes: POST /mp/collect and /debug/mp/collect (404 otherwise). A body of 130 kB or more → 413.
* `/mp/collect` answers 204 to anything it receives, as GA4 does: a request with validation problems, a wrong
  measurement_id / api_secret, a non-JSON body or a missing `Content-Type: application/json` lands in `dropped`
  with why; valid events land in `accepted` (each with its request's client_id).
* `/debug/mp/collect` answers 200 `{"validationMessages": [...]}` (empty when valid) and records nothing. Like
  Google's, it does not check measurement_id or api_secret (validating-events guide: "The validation server does not
  validate api_secret"; "Events sent to the validation server do not appear in reports"). Each message is
  `{"fieldPath", "description", "validationCode"}`, as the guide's example answer:
  `{"fieldPath": "events", "description": "Event at index: [0] has invalid name [_badEventName]. Names must start
  with an alphabetic character.", "validationCode": "NAME_INVALID"}`.

`validation_messages` applies GA4's documented rules (reference, "Limitations"; the GTM sink reuses it): client_id
required and in the `_ga` cookie form `<digits>.<digits>`; 1-25 events; event names ≤ 40 characters of
[A-Za-z0-9_] starting with a letter, not reserved; ≤ 25 params per event, names like event names (no reserved
prefix), string values ≤ 100 characters; `timestamp_micros` an integer in microseconds, at most 72 hours old and
not in the future; `user_location` / `device` with their documented keys (country_id ISO 3166-1 alpha-2,
region_id ISO 3166-2); ≤ 25 `user_properties`, each `{"value": ...}` with a name of ≤ 24 characters (same
character rule) and a string value of ≤ 36 characters; `consent` with only `ad_user_data` / `ad_personalization`,
each GRANTED or DENIED.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

COLLECT_PATH = "/mp/collect"
VALIDATION_PATH = "/debug/mp/collect"
MAX_BODY_BYTES = 130_000
MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_NAME_CHARS = 40
MAX_PARAM_VALUE_CHARS = 100
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME_CHARS = 24
MAX_USER_PROPERTY_VALUE_CHARS = 36
CONSENT_KEYS = frozenset({"ad_user_data", "ad_personalization"})
CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})
MAX_AGE_MICROS = 72 * 3600 * 1_000_000
CLOCK_SKEW_MICROS = 60 * 1_000_000

_CLIENT_ID = re.compile(r"[0-9]{1,10}\.[0-9]{1,10}")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_COUNTRY = re.compile(r"[A-Z]{2}")
_REGION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "app_remove",
        "app_update",
        "error",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_open",
        "os_update",
        "session_start",
        "user_engagement",
    }
)
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
USER_LOCATION_KEYS = frozenset({"city", "region_id", "country_id", "subcontinent_id", "continent_id"})
DEVICE_KEYS = frozenset(
    {
        "category",
        "language",
        "screen_resolution",
        "operating_system",
        "operating_system_version",
        "model",
        "brand",
        "browser",
        "browser_version",
    }
)

Message = dict[str, str]


def _message(path: str, description: str, code: str) -> Message:
    return {"fieldPath": path, "description": description, "validationCode": code}


def validation_messages(body: Any, *, now: float | None = None) -> list[Message]:
    """GA4's validation messages for a parsed MP body (empty when valid)."""
    if not isinstance(body, dict):
        return [_message("", "The request body must be a JSON object.", "VALUE_INVALID")]
    now_micros = int((time.time() if now is None else now) * 1_000_000)
    messages = _client_id_messages(body.get("client_id"))
    messages += _timestamp_messages("timestamp_micros", body.get("timestamp_micros"), now_micros)
    messages += _object_messages("user_location", body.get("user_location"), USER_LOCATION_KEYS)
    messages += _object_messages("device", body.get("device"), DEVICE_KEYS)
    messages += _object_messages("consent", body.get("consent"), CONSENT_KEYS)
    messages += _consent_messages(body.get("consent"))
    messages += _user_property_messages(body.get("user_properties"))
    location = body.get("user_location")
    if isinstance(location, dict):
        if "country_id" in location and not _COUNTRY.fullmatch(str(location["country_id"])):
            messages.append(_message("user_location.country_id", "Not an ISO 3166-1 alpha-2 code.", "VALUE_INVALID"))
        if "region_id" in location and not _REGION.fullmatch(str(location["region_id"])):
            messages.append(_message("user_location.region_id", "Not an ISO 3166-2 code.", "VALUE_INVALID"))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        return [*messages, _message("events", "At least one event is required.", "VALUE_REQUIRED")]
    if len(events) > MAX_EVENTS:
        messages.append(_message("events", f"Too many events: {len(events)} > {MAX_EVENTS}.", "EXCEEDED_MAX_ENTITIES"))
    for index, event in enumerate(events):
        messages += _event_messages(index, event, now_micros)
    return messages


def _client_id_messages(client_id: Any) -> list[Message]:
    if client_id is None:
        return [_message("client_id", "client_id is required for web streams.", "VALUE_REQUIRED")]
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        return [_message("client_id", f"Invalid client_id [{client_id}].", "VALUE_INVALID")]
    return []


def _timestamp_messages(path: str, value: Any, now_micros: int) -> list[Message]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or value < 10**15:
        return [_message(path, "timestamp_micros must be an integer Unix time in microseconds.", "VALUE_INVALID")]
    if value < now_micros - MAX_AGE_MICROS or value > now_micros + CLOCK_SKEW_MICROS:
        return [_message(path, "timestamp_micros is more than 72 hours old or in the future.", "VALUE_OUT_OF_BOUNDS")]
    return []


def _object_messages(path: str, value: Any, allowed: frozenset[str]) -> list[Message]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [_message(path, f"{path} must be an object.", "VALUE_INVALID")]
    return [_message(f"{path}.{key}", f"Unknown field [{key}].", "NAME_INVALID") for key in value if key not in allowed]


def _consent_messages(consent: Any) -> list[Message]:
    if not isinstance(consent, dict):
        return []
    return [
        _message(f"consent.{key}", f"Consent must be GRANTED or DENIED, not [{value}].", "VALUE_INVALID")
        for key, value in consent.items()
        if key in CONSENT_KEYS and value not in CONSENT_VALUES
    ]


def _user_property_messages(properties: Any) -> list[Message]:
    if properties is None:
        return []
    if not isinstance(properties, dict):
        return [_message("user_properties", "user_properties must be an object.", "VALUE_INVALID")]
    messages: list[Message] = []
    if len(properties) > MAX_USER_PROPERTIES:
        messages.append(
            _message("user_properties", f"Too many user properties: {len(properties)}.", "EXCEEDED_MAX_ENTITIES")
        )
    for name, entry in properties.items():
        path = f"user_properties.{name}"
        problem = _name_problem(name, MAX_USER_PROPERTY_NAME_CHARS)
        if problem:
            messages.append(_message(path, f"Invalid user property name [{name}].", problem))
        if not isinstance(entry, dict) or "value" not in entry:
            messages.append(_message(path, "A user property must be an object with a value.", "VALUE_REQUIRED"))
        elif isinstance(entry["value"], str) and len(entry["value"]) > MAX_USER_PROPERTY_VALUE_CHARS:
            messages.append(_message(f"{path}.value", "Value longer than 36 characters.", "VALUE_OUT_OF_BOUNDS"))
    return messages


def _name_problem(name: Any, max_chars: int = MAX_NAME_CHARS) -> str | None:
    if not isinstance(name, str) or len(name) > max_chars or not _NAME.fullmatch(name):
        return "NAME_INVALID"
    if name.startswith(RESERVED_PREFIXES):
        return "NAME_RESERVED"
    return None


def _event_messages(index: int, event: Any, now_micros: int) -> list[Message]:
    path = f"events[{index}]"
    if not isinstance(event, dict):
        return [_message(path, f"Event at index: [{index}] is not an object.", "VALUE_INVALID")]
    name = event.get("name")
    messages: list[Message] = []
    problem = "NAME_RESERVED" if name in RESERVED_EVENT_NAMES else _name_problem(name)
    if problem:
        messages.append(_message(path, f"Event at index: [{index}] has invalid name [{name}].", problem))
    messages += _timestamp_messages(f"{path}.timestamp_micros", event.get("timestamp_micros"), now_micros)
    params = event.get("params", {})
    if not isinstance(params, dict):
        return [*messages, _message(f"{path}.params", "params must be an object.", "VALUE_INVALID")]
    if len(params) > MAX_PARAMS:
        messages.append(_message(f"{path}.params", f"Too many params: {len(params)}.", "EXCEEDED_MAX_ENTITIES"))
    for key, value in params.items():
        problem = _name_problem(key)
        if problem:
            messages.append(_message(f"{path}.params", f"Invalid param name [{key}].", problem))
        if isinstance(value, str) and len(value) > MAX_PARAM_VALUE_CHARS:
            messages.append(
                _message(f"{path}.params.{key}", "Value longer than 100 characters.", "VALUE_OUT_OF_BOUNDS")
            )
        elif not isinstance(value, str | int | float | bool) and key != "items":
            messages.append(_message(f"{path}.params.{key}", "Value must be a string or a number.", "VALUE_INVALID"))
    return messages


@dataclass
class DroppedRequest:
    reason: str
    body: bytes


@dataclass
class GA4Sink:
    """Sink handler for one GA4 web data stream."""

    measurement_id: str
    api_secret: str
    accepted: list[dict[str, Any]] = field(default_factory=list)  # events, each with its request's client_id
    dropped: list[DroppedRequest] = field(default_factory=list)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method != "POST" or request.path not in (COLLECT_PATH, VALIDATION_PATH):
            return SinkResponse(404, "Not Found")
        if len(request.body) >= MAX_BODY_BYTES:
            return SinkResponse(413, "Request Entity Too Large")
        body, problem = _parse(request)
        messages = [_message("", problem, "VALUE_INVALID")] if problem else validation_messages(body)
        if request.path == VALIDATION_PATH:
            return SinkResponse(200, {"validationMessages": messages})
        reason = self._credential_problem(request) or ("; ".join(m["description"] for m in messages) or None)
        if reason:
            self.dropped.append(DroppedRequest(reason, request.body))
        else:
            self.accepted.extend({**event, "client_id": body["client_id"]} for event in body["events"])
        return SinkResponse(204, b"")

    def _credential_problem(self, request: SinkRequest) -> str | None:
        if request.query.get("measurement_id") != [self.measurement_id]:
            return "unknown measurement_id"
        if request.query.get("api_secret") != [self.api_secret]:
            return "invalid api_secret"
        return None


def _parse(request: SinkRequest) -> tuple[Any, str | None]:
    if (request.header("content-type") or "").split(";")[0].strip() != "application/json":
        return None, "Content-Type must be application/json."
    try:
        return json.loads(request.body), None
    except ValueError:
        return None, "Unable to parse the request body as JSON."


def ga4_sink(measurement_id: str, api_secret: str) -> GA4Sink:
    """A handler for `Sink(...)` emulating one GA4 web stream."""
    return GA4Sink(measurement_id, api_secret)
