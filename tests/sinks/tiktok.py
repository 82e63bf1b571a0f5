"""A TikTok Events API 2.0 stand-in: checks requests the way TikTok documents and answers like it.

* Path: POST /open_api/{version}/event/track/ (trailing slash included; `version` v1.3 unless told); others → HTTP
  404, except a version in `retired_versions`: HTTP 200 with code 40051, the official SDK's
  ERROR_CODE_INVALID_API_VERSION (tiktok-business-api-sdk `tiktok_business/tiktok_code.py`; TikTok documents no
  message for it, so the stand-in's says what happened).
* Auth: header `Access-Token`; missing or wrong → HTTP 200 with code 40105 (TikTok's application errors come
  with HTTP 200 and a non-zero `code`).
* Body: JSON `{"event_source": "web", "event_source_id": <pixel code>, "data": [...], "test_event_code"?}`, 1 to
  1,000 events; any problem → HTTP 200 `{"code": 40002, "message": ...}` for the whole request, naming no event.
* Per event: `event` name; `event_time` in Unix seconds (a millisecond value is refused); `user` object whose
  `email`, `phone` and `external_id` (string or list) are 64-character lower-case hex; `ttclid` a string;
  `limited_data_use`, when present, a boolean on the event (not the request).
* Throttling (scripted: `tiktok_throttled`): HTTP 200 with one of the rate-limit codes TikTok's SDK names; TikTok
  documents no wait and no Retry-After, so none is sent.
* Success: `{"code": 0, "message": "OK", "request_id": ..., "data": {}}`; accepted events land in `accepted`, the
  request's `test_event_code` (Test Events tab) in `test_event_codes`: checked and answered like any other request.
  Events named after TikTok's earlier standard-event list (`CompletePayment`, `PlaceAnOrder`, `ClickButton`) are
  accepted, as TikTok still does, and also land in `legacy_named` (the current list, September 2025:
  https://ads.tiktok.com/help/article/supported-standard-events, with `Purchase` and `SubmitForm`; `Lead`, the
  May 2025 guide's name for SubmitForm, is accepted as the guide says: "Legacy names are auto-converted").
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

PATH = "/open_api/{version}/event/track/"
MAX_EVENTS = 1000
MAX_SECONDS = 10**10  # a larger event_time is in milliseconds
HASHED_FIELDS = ("email", "phone", "external_id")
# Standard events of TikTok's earlier list that its current list replaced (CompletePayment and PlaceAnOrder by
# Purchase) or dropped (ClickButton).
LEGACY_EVENT_NAMES = frozenset({"CompletePayment", "PlaceAnOrder", "ClickButton"})
INVALID_TOKEN = 40105
INVALID_API_VERSION = 40051
# Rate-limit codes of TikTok's SDK (NumericErrorCodes, python_sdk/business_api_client/tiktok_business/tiktok_code.py,
# tiktok/tiktok-business-api-sdk): their constant names, as TikTok's message wording is not documented.
THROTTLING_MESSAGES = {
    40100: "Request too frequent",  # ERROR_CODE_REQUEST_TOO_FREQUENT
    40132: "Request frequency limited",  # ERROR_CODE_REQUEST_FREQUENCY_LIMITED
    61000: "Too many requests",  # ERROR_CODE_TOO_MANY_REQUESTS_BL
}
PARAMETER_ERROR = 40002
_HASH = re.compile(r"[0-9a-f]{64}")


def tiktok_answer(code: int, message: str, *, status: int = 200, headers: dict[str, str] | None = None) -> SinkResponse:
    """TikTok's envelope, e.g. tiktok_answer(40100, "Too many requests") for its rate limit."""
    return SinkResponse(
        status, {"code": code, "message": message, "request_id": uuid.uuid4().hex, "data": {}}, headers or {}
    )


def tiktok_throttled(code: int = 40100) -> SinkResponse:
    """TikTok's rate limit: like every application error, HTTP 200 with the code (tiktok_answer)."""
    return tiktok_answer(code, THROTTLING_MESSAGES[code])


@dataclass
class TikTokSink:
    """Sink handler for one pixel and its Events API access token."""

    pixel_code: str
    access_token: str
    version: str = "v1.3"
    retired_versions: frozenset[str] = frozenset()
    accepted: list[dict[str, Any]] = field(default_factory=list)
    test_event_codes: list[str | None] = field(default_factory=list)  # one per accepted request
    legacy_named: list[dict[str, Any]] = field(default_factory=list)  # accepted events with a legacy event name

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if any(request.path == PATH.format(version=retired) for retired in self.retired_versions):
            return tiktok_answer(INVALID_API_VERSION, "This API version is no longer supported.")
        if request.method != "POST" or request.path != PATH.format(version=self.version):
            return SinkResponse(404, "404 page not found")
        if request.header("access-token") != self.access_token:
            return tiktok_answer(INVALID_TOKEN, "Access token is incorrect or has been revoked.")
        try:
            body = json.loads(request.body)
        except ValueError:
            return tiktok_answer(PARAMETER_ERROR, "Invalid JSON in the request body")
        if problem := self._problem(body):
            return tiktok_answer(PARAMETER_ERROR, problem)
        self.accepted.extend(body["data"])
        self.legacy_named.extend(event for event in body["data"] if event["event"] in LEGACY_EVENT_NAMES)
        self.test_event_codes.append(body.get("test_event_code"))
        return tiktok_answer(0, "OK")

    def _problem(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        if body.get("event_source") != "web":
            return "event_source: must be web for web events"
        if body.get("event_source_id") != self.pixel_code:
            return "event_source_id: unknown pixel code"
        data = body.get("data")
        if not isinstance(data, list) or not 1 <= len(data) <= MAX_EVENTS:
            return f"data: between 1 and {MAX_EVENTS} events are required"
        for event in data:
            # The code and message are for the whole request and name no event (the official SDK's envelope
            # `{code, message, request_id, data}`, tiktok/tiktok-business-api-sdk tiktok_response.py; the issue's
            # live answer "Invalid value for event_id...").
            if problem := _event_problem(event):
                return f"Invalid value for {problem}"
        return None


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "event: must be an object"
    if not isinstance(event.get("event"), str) or not event["event"]:
        return "event: field is required"
    event_time = event.get("event_time")
    if type(event_time) is not int or not 0 < event_time < MAX_SECONDS:
        return "event_time: must be a Unix timestamp in seconds"
    user = event.get("user")
    if not isinstance(user, dict):
        return "user: field is required"
    for name in HASHED_FIELDS:
        values = user.get(name)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                return f"user.{name}: must be SHA-256 hashed"
    if "ttclid" in user and not isinstance(user["ttclid"], str):
        return "user.ttclid: must be a string"
    # Limited Data Use is a boolean on each event of `data` (TikTok's "Events API 2.0 - Limited Data Use" page, as
    # Segment's TikTok destination sends it: `limited_data_use: typeof limited_data_use === 'boolean' ? ... : false`,
    # segmentio/action-destinations tiktok-conversions/reportWebEvent/utils.ts; TikTok's page is not in our sources).
    if "limited_data_use" in event and not isinstance(event["limited_data_use"], bool):
        return "limited_data_use: must be a boolean"
    return None
