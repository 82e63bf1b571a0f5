"""A Meta Conversions API stand-in: checks requests the way Graph documents and answers like it.

* Path: POST /{version}/{pixel_id}/events (the version and pixel this sink was made for); others → Graph error 2500,
  except a version in `retired_versions`: Meta's deprecated-version error, code 2635, "(#2635) You are calling a
  deprecated version of the Ads API. Please update to the latest version: vXX.X." (Meta, "Upcoming change in Marketing
  API version deprecation to enable version auto-upgrade", 2024-04-16; body as in facebook-java-business-sdk#136).
* Auth: `access_token` in the query string only; missing → code 104, wrong → code 190 (OAuthException, HTTP 400).
* Body: JSON `{"data": [...], "test_event_code"?}`, 1 to 1,000 events; all or nothing: one invalid event fails the
  whole request and nothing is kept. The refusal names the event the way Graph does: code 100, subcode 2804019,
  `error_user_msg` starting `data[i]: ...` (and `error_data.event_index`).
* Per event: `event_name`; `event_time` in Unix seconds, at most 7 days old (62 for `physical_store`) and not in
  the future (a time in milliseconds is "in the future"); `action_source` from Meta's list; a `user_data` object
  with at least one identifier (em, ph, external_id, fbc, fbp, or client_ip_address with client_user_agent) whose
  hashed keys (em, ph, external_id, fn, ln, ct, st, country, ...) hold 64-character lower-case hex only; `fbc` as
  `fb.1.<13-digit ms>.<fbclid>`; `Purchase` needs a 3-letter `custom_data.currency` and a numeric
  `custom_data.value`.
* Limited Data Use (Data Processing Options page, SDK `event.py`): `data_processing_options` `["LDU"]` or `[]`,
  `data_processing_options_country` / `_state` integers (0: Meta geolocates); anything else refuses the event.
* Success: `{"events_received": n, "messages": [], "fbtrace_id": ...}`; accepted events land in `accepted` (with
  the request's test_event_code, if any, in `test_event_codes`). A request with a `test_event_code` (main-body
  parameters: "Use this code to test your server events in the Test Events feature in Events Manager") is checked
  and answered exactly like any other: that answer is what a validate-mode test-send reads. Meta's parameters page
  says website events "require the client_user_agent, action_source, and event_source_url parameters, while non-web
  events require only action_source", but documents no refusal for a website event without them: such events are
  accepted and also land in `website_without_user_agent`.
* Throttling (scripted: `buc_throttled`, `app_throttled`) as Meta's Rate Limits page documents it: a Graph error
  with a throttle code and the usage header saying how long; never a Retry-After, which Meta does not send.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.server import SinkRequest, SinkResponse

MAX_EVENTS = 1000
MAX_AGE_SECONDS = 7 * 24 * 3600
MAX_PHYSICAL_STORE_AGE_SECONDS = 62 * 24 * 3600
INVALID_PARAMETER_SUBCODE = 2804019  # "Server Side API Parameter Error"
FUTURE_TOLERANCE_SECONDS = 600
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
HASHED_KEYS = ("em", "ph", "external_id", "fn", "ln", "ge", "db", "ct", "st", "zp", "country")
IDENTIFIER_KEYS = ("em", "ph", "external_id", "fbc", "fbp")
_HASH = re.compile(r"[0-9a-f]{64}")
_FBC = re.compile(r"fb\.[0-2]\.[0-9]{13}\.\S+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def graph_error(
    code: int,
    message: str,
    *,
    status: int = 400,
    error_type: str = "OAuthException",
    is_transient: bool | None = None,
    headers: dict[str, str] | None = None,
) -> SinkResponse:
    """Graph's error envelope, e.g. graph_error(17, "User request limit reached") for throttling."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code, "fbtrace_id": _trace_id()}
    if is_transient is not None:
        error["is_transient"] = is_transient
    return SinkResponse(status, {"error": error}, headers or {})


# Meta's Rate Limits page (https://developers.facebook.com/docs/graph-api/overview/rate-limiting), "Business Use Case
# Rate Limits" > "Error Codes": "error code 80004, error subcode 2446079 | Ads Management", with the sample message
# "(#80001) There have been too many calls to this Page account. Wait a bit and try again. ..."
ADS_MANAGEMENT_THROTTLED = 80004
BUC_THROTTLE_SUBCODE = 2446079


def buc_throttled(
    regain_minutes: int, *, code: int = ADS_MANAGEMENT_THROTTLED, business_id: str = "1234567890"
) -> SinkResponse:
    """A business use case rate limit reached. "All API responses made by your app that are rate limited using the BUC
    logic include an `X-Business-Use-Case-Usage` HTTP header", whose `estimated_time_to_regain_access` is the "Time,
    in minutes, until calls will not longer be throttled" (same page, "Headers")."""
    usage = {
        business_id: [
            {
                "type": "ads_management",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": regain_minutes,
                "ads_api_access_tier": "standard_access",
            }
        ]
    }
    response = graph_error(
        code,
        f"(#{code}) There have been too many calls to this ad-account. Wait a bit and try again. For more info, "
        "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    response.body["error"]["error_subcode"] = BUC_THROTTLE_SUBCODE
    return response


def app_throttled() -> SinkResponse:
    """The app's rate limit reached: "`4` | Indicates that the app whose token is being used in the request has
    reached its rate limit" (same page, "Throttle Error Codes"), with `X-App-Usage`, which holds percentages of "a
    rolling one hour period" and no time to wait."""
    usage = {"call_count": 100, "total_cputime": 40, "total_time": 45}
    return graph_error(4, "(#4) Application request limit reached", headers={"X-App-Usage": json.dumps(usage)})


@dataclass
class MetaSink:
    """Sink handler for one pixel (dataset) and its access token."""

    pixel_id: str
    access_token: str
    version: str
    clock: Callable[[], float] = time.time
    retired_versions: frozenset[str] = frozenset()
    accepted: list[dict[str, Any]] = field(default_factory=list)
    test_event_codes: list[str | None] = field(default_factory=list)  # one per accepted request
    website_without_user_agent: list[dict[str, Any]] = field(default_factory=list)  # accepted ones

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if any(request.path.startswith(f"/{retired}/") for retired in self.retired_versions):
            return graph_error(
                2635,
                f"(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: "
                f"{self.version}.",
            )
        if request.method != "POST" or request.path != f"/{self.version}/{self.pixel_id}/events":
            return graph_error(2500, f"Unknown path components: {request.path}")
        tokens = request.query.get("access_token") or []
        if not tokens:
            return graph_error(104, "An access token is required to request this resource.")
        if tokens != [self.access_token]:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token")
        try:
            body = json.loads(request.body)
        except ValueError:
            return graph_error(100, "(#100) The request body is not valid JSON", error_type="GraphMethodException")
        problem = self._problem(body)
        if problem:
            return graph_error(100, f"(#100) {problem}", error_type="GraphMethodException")
        for index, event in enumerate(body["data"]):
            if event_problem := self._event_problem(event):
                return _event_refused(index, event_problem)
        self.accepted.extend(body["data"])
        self.website_without_user_agent.extend(
            event
            for event in body["data"]
            if event["action_source"] == "website" and not event["user_data"].get("client_user_agent")
        )
        self.test_event_codes.append(body.get("test_event_code"))
        return SinkResponse(200, {"events_received": len(body["data"]), "messages": [], "fbtrace_id": _trace_id()})

    def _problem(self, body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
            return "The parameter data is required"
        if len(body["data"]) > MAX_EVENTS:
            return f"data may hold at most {MAX_EVENTS} events"
        if "test_event_code" in body and not isinstance(body["test_event_code"], str):
            return "test_event_code must be a string"
        return None

    def _event_problem(self, event: Any) -> str | None:
        if not isinstance(event, dict):
            return "an event must be an object"
        if not isinstance(event.get("event_name"), str) or not event["event_name"]:
            return "event_name is required"
        event_time = event.get("event_time")
        if type(event_time) is not int:
            return "event_time must be a Unix timestamp in seconds"
        now = self.clock()
        if event_time > now + FUTURE_TOLERANCE_SECONDS:
            return "event_time is too far in the future (is it in milliseconds?)"
        if event.get("action_source") not in ACTION_SOURCES:
            return "action_source is missing or not one of Meta's values"
        if event["action_source"] == "physical_store":
            if event_time < now - MAX_PHYSICAL_STORE_AGE_SECONDS:
                return "event_time is more than 62 days in the past"
        elif event_time < now - MAX_AGE_SECONDS:
            return "event_time is more than 7 days in the past"
        return (
            _user_data_problem(event.get("user_data"))
            or _custom_data_problem(event)
            or _data_processing_options_problem(event)
        )


def _data_processing_options_problem(event: dict[str, Any]) -> str | None:
    """Limited Data Use as Meta's "Data Processing Options for US Users" page
    (developers.facebook.com/docs/marketing-apis/data-processing-options) and the official SDK
    (facebook-python-business-sdk `adobjects/serverside/event.py`: `data_processing_options` list[str], "Processing
    options you would like to enable for a specific event"; `data_processing_options_country` and `_state` int)
    describe it: "Limited Data Use is sent through a parameter called Data Processing Options, and it can optionally
    be sent alongside a user's country and state"; the options are `["LDU"]` or an empty array (LDU not enabled), the
    country and state integers, 0 asking Meta to geolocate ("use 0 to ask us to geolocate this event")."""
    options = event.get("data_processing_options")
    if options is not None and options not in ([], ["LDU"]):
        return 'data_processing_options must be an array holding "LDU", or empty'
    for key in ("data_processing_options_country", "data_processing_options_state"):
        if key in event and type(event[key]) is not int:
            return f"{key} must be an integer (0: Meta geolocates the event)"
    return None


def _user_data_problem(user_data: Any) -> str | None:
    if not isinstance(user_data, dict) or not user_data:
        return "user_data is required"
    for key in HASHED_KEYS:
        values = user_data.get(key)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                return f"user_data.{key} must be SHA-256 hashed (64 lower-case hex characters)"
    fbc = user_data.get("fbc")
    if fbc is not None and (not isinstance(fbc, str) or not _FBC.fullmatch(fbc)):
        return "user_data.fbc must look like fb.1.<creation time in ms>.<fbclid>"
    browser = user_data.get("client_ip_address") and user_data.get("client_user_agent")
    if not browser and not any(user_data.get(key) for key in IDENTIFIER_KEYS):
        return "user_data holds no customer information parameter Meta can match on"
    return None


def _custom_data_problem(event: dict[str, Any]) -> str | None:
    if event["event_name"] != "Purchase":
        return None
    custom = event.get("custom_data")
    if not isinstance(custom, dict) or not isinstance(custom.get("currency"), str):
        return "custom_data.currency is required for Purchase events"
    if not _CURRENCY.fullmatch(custom["currency"]):
        return "custom_data.currency must be an ISO 4217 currency code"
    value = custom.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "custom_data.value is required for Purchase events"
    return None


def _event_refused(index: int, problem: str) -> SinkResponse:
    """Graph's answer to a batch holding one invalid event: the whole request fails, naming data[index]."""
    error = {
        "message": "Invalid parameter",
        "type": "OAuthException",
        "code": 100,
        "error_subcode": INVALID_PARAMETER_SUBCODE,
        "is_transient": False,
        "error_user_title": "Server Side API Parameter Error",
        "error_user_msg": f"data[{index}]: {problem}",
        "error_data": json.dumps({"event_index": index}),
        "fbtrace_id": _trace_id(),
    }
    return SinkResponse(400, {"error": error})


def _trace_id() -> str:
    return uuid.uuid4().hex[:11]
