"""TikTok Events API 2.0 for web events: `POST https://business-api.tiktok.com/open_api/v1.3/event/track/`.

* Header `Access-Token`; body `{"event_source": "web", "event_source_id": <pixel code>, "data": [events],
  "test_event_code"?}` (the 2.0 shape, not the 1.0 `pixel/track` one with `pixel_code`/`context`).
* TikTok answers HTTP 200 for most failures, with `{"code": <non-zero>, "message": ...}`: a request succeeded
  only when HTTP is 2xx and `code` is 0. The code applies to the whole request. A 2xx without a readable
  integer `code` cannot say whether TikTok kept the events: `invalid_response`, permanent (not sent again).
* A code refusing the request's content (`EVENT_CONTENT_CODES`) names no event, though one event may be all it is
  about: its events are refused together, so the dispatcher resends them at once in halves until the refusal is one
  event's own (design §8.1); a batch-mate is never failed for it.
* Standard event names from TikTok's current list, "About supported standard events in TikTok Ads Manager"
  (https://ads.tiktok.com/help/article/supported-standard-events, last updated September 2025), which Events API
  2.0 shares with the Pixel: a sale is `Purchase` (the list's "When a visitor makes a purchase"; `CompletePayment`
  and `PlaceAnOrder` are gone from it) and a lead `SubmitForm` ("Submit Form: when a visitor submits a form",
  objective Lead; TikTok's "About reserved events", September 2025, maps `ClickForm` to `SubmitForm` too). The
  list has no `Lead` row: TikTok's May 2025 "How to Adopt TikTok's Updated Standard Events" renamed SubmitForm to
  Lead, but the September 2025 pages went back to SubmitForm, and that guide says both names keep working ("Legacy
  names are auto-converted on the backend").
* Limited Data Use: with the destination's `limited_data_use`, and always for an event in strict privacy mode,
  each event of `data` carries `limited_data_use: true`, whatever a mapping set there (TikTok's "Events API 2.0 -
  Limited Data Use", https://ads.tiktok.com/marketing_api/docs?id=1771101204435970, as Segment's TikTok
  Conversions destination places it: a boolean in each event, `reportWebEvent/utils.ts`).
* Up to 1,000 events per request: the commonly cited limit; TikTok's own page could not be confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import StringConstraints

from . import base
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse
from .common import epoch_seconds, json_bytes
from .conversions import (
    SCREENED_OUT_DOC,
    ConversionRequest,
    Normalizer,
    ProviderWithTestEvents,
    build_batches,
    click_id,
    conversion_value,
    customer_contact,
    delivered,
    destination_url,
    e164_phone,
    hashed,
    hashed_all,
    limited_data_use,
    lower_trimmed,
    missing_identifier,
    normalize_email,
    standard_event,
    test_event_code,
)
from .responses import error_code, invalid_response, provider_message, read_json, status_line_outcome, typed
from .test_event_code import TestEventCode

PLATFORM = "TikTok"
API_VERSION = "v1.3"
API_URL = f"https://business-api.tiktok.com/open_api/{API_VERSION}/event/track/"
EVENT_SOURCE = "web"
MAX_EVENTS_PER_REQUEST = 1000
EVENT_NAMES: Mapping[str, str] = {"lead": "SubmitForm", "sale": "Purchase"}

SUCCESS_CODE = 0
RATE_LIMIT_CODE = 40100
# TikTok's rate limits (NumericErrorCodes, python_sdk/business_api_client/tiktok_business/tiktok_code.py,
# tiktok/tiktok-business-api-sdk): ERROR_CODE_REQUEST_TOO_FREQUENT 40100, ERROR_CODE_REQUEST_FREQUENCY_LIMITED
# 40132, ERROR_CODE_TOO_MANY_REQUESTS_BL 61000. TikTok documents no wait for them: throttled, our schedule's wait.
THROTTLING_CODES = frozenset({RATE_LIMIT_CODE, 40132, 61000})
INVALID_TOKEN_CODE = 40105
# The official SDK's ERROR_CODE_INVALID_API_VERSION (tiktok-business-api-sdk, `tiktok_business/tiktok_code.py`):
# the version in API_URL is not served (TikTok retired v1.2 in August 2023 after a year's notice; docs/api-versions.md).
INVALID_API_VERSION_CODE = 40051
# Refusals of what the request carries, in the official SDK's code list (tiktok/tiktok-business-api-sdk,
# python_sdk/business_api_client/tiktok_business/tiktok_code.py): ERROR_CODE_INVALID_PARAMS 40000,
# ERROR_CODE_PARAM_ERROR 40002, ERROR_CODE_INVALID_BATCH_SIZE 40061, ERROR_CODE_PII_NOT_HASHED 40062.
EVENT_CONTENT_CODES = frozenset({40000, 40002, 40061, 40062})
SERVER_ERROR_CODES = range(50000, 60000)
MAINTENANCE_CODE = 60001  # ERROR_CODE_MAINTENANCE: an outage, retried (and counted) like a server error

# `user` fields TikTok wants SHA-256 hashed, with TikTok's normalisation before hashing.
HASHED_USER_FIELDS: Mapping[str, Normalizer] = {
    "email": normalize_email,
    "phone": e164_phone,
    "external_id": lower_trimmed,
}
IDENTIFIER_FIELDS = ("ttclid", "email", "phone", "external_id", "ttp")


class TikTokCredentials(base.Credentials):
    pixel_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10,32}$")]
    access_token: base.SecretStr
    test_event_code: TestEventCode | None = None
    # Ask TikTok to limit its processing of every event (events in strict privacy mode always are).
    limited_data_use: bool = False


class TikTok(ProviderWithTestEvents):
    destination_type = "tiktok"
    action_types = frozenset({"send_conversion"})
    credentials_model = TikTokCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("event_source, event_source_id", '"web" and the credentials\' `pixel_code` (request level)'),
        (
            "event",
            "`SubmitForm` for conversion.lead, `Purchase` for conversion.sale (TikTok's standard events list of "
            "September 2025, https://ads.tiktok.com/help/article/supported-standard-events; the legacy "
            "`CompletePayment` is not used)",
        ),
        ("event_time", "`occurred_at` as Unix seconds"),
        ("event_id", "the event `id`: TikTok deduplicates it against the Pixel's event_id"),
        ("user.ttclid", "`click_ids.ttclid`, not hashed"),
        ("user.email", "`conversion.email`, trimmed and lower-cased, SHA-256 hex"),
        ("user.phone", "`conversion.phone` in E.164 with the leading +, SHA-256 hex"),
        ("user.external_id", "not sent by default (Nimriz visitor ids are unknown to TikTok); hashed if mapped"),
        ("page.url", "`link.destination_url_capped`"),
        ("properties.value", "`conversion.value` (a lead's 0 is left out)"),
        ("properties.currency", "`conversion.currency`, upper-case ISO-4217"),
        ("test_event_code", "the credentials' `test_event_code`, on test sends only (else a test send goes live)"),
        (
            "limited_data_use",
            "`true` on each event in strict privacy mode and on destinations with `limited_data_use`, whatever a "
            "mapping sets; else not sent",
        ),
        (
            "hashing",
            "user.email, user.phone and user.external_id set by a mapping are normalised and hashed unless "
            "already SHA-256 hex",
        ),
        ("not sent", f"`missing_identifier` without ttclid, email, phone, external_id or ttp; {SCREENED_OUT_DOC}"),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        name = standard_event(event, EVENT_NAMES)
        if name is None:
            return {}  # never sent: build_requests records why
        payload: dict[str, Any] = {
            "event": name,
            "event_time": epoch_seconds(event),
            "event_id": str(event["id"]),
            "user": _user(event),
        }
        if url := destination_url(event):
            payload["page"] = {"url": url}
        if money := conversion_value(event):
            payload["properties"] = {"value": money[0], "currency": money[1]}
        return payload

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        return build_batches(
            items,
            platform=PLATFORM,
            prepare=lambda item: _prepare(item.payload, limited_data_use(item.event, credentials)),
            max_batch_size=self.max_batch_size,
            build_request=lambda payloads, positions, test: _request(payloads, positions, test, credentials),
        )

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        outcome = status_line_outcome(PLATFORM, response) or _envelope_outcome(request, response)
        return dict.fromkeys(request.items, outcome)


def _user(event: Mapping[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = {}
    if ttclid := click_id(event, "ttclid"):
        user["ttclid"] = ttclid
    if email := customer_contact(event, "email"):
        user["email"] = hashed(email, normalize_email)
    if phone := customer_contact(event, "phone"):
        user["phone"] = hashed(phone, e164_phone)
    return {key: value for key, value in user.items() if value}


def _prepare(payload: Mapping[str, Any], limited: bool) -> dict[str, Any] | Outcome:
    event = dict(payload)
    if limited:
        event["limited_data_use"] = True
    event["user"] = user = _hashed_user(payload.get("user"))
    if not any(user.get(field) for field in IDENTIFIER_FIELDS):
        return missing_identifier(PLATFORM, "the customer's email or phone, or a ttclid on the click")
    return event


def _hashed_user(user: object) -> dict[str, Any]:
    """`user` with every field TikTok wants hashed hashed; a single value stays a string, a list stays a list."""
    if not isinstance(user, Mapping):
        return {}
    result: dict[str, Any] = {}
    for field, value in user.items():
        normalize = HASHED_USER_FIELDS.get(field)
        if normalize is None:
            result[field] = value
        elif digests := hashed_all(value, normalize):
            result[field] = digests if isinstance(value, list) else digests[0]
    return result


def _request(
    payloads: list[dict[str, Any]], positions: tuple[int, ...], test: bool, credentials: Mapping[str, Any]
) -> OutboundRequest:
    test_fields, note = test_event_code(credentials, test)
    body = {"event_source": EVENT_SOURCE, "event_source_id": credentials["pixel_code"], **test_fields, "data": payloads}
    token = str(credentials["access_token"])
    return ConversionRequest(
        method="POST",
        url=API_URL,
        headers={"Access-Token": token, "Content-Type": "application/json"},
        body=json_bytes(body),
        items=positions,
        secrets=(token,),
        note=note,
    )


def _envelope_outcome(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    """TikTok's `{"code", "message"}` envelope: HTTP 200 does not mean success."""
    body = read_json(response.body)
    code = typed(body.value, "code", int)
    if code is None:
        if response.status < 300:
            return invalid_response(PLATFORM, response, body.problem or "no result code")
        return base.classify_status(response)
    if code == SUCCESS_CODE:
        return delivered(request) if response.status < 300 else base.classify_status(response)
    message = provider_message(typed(body.value, "message", str), request)
    if code == INVALID_TOKEN_CODE:
        return Outcome.permanent("unauthorized", message)
    if code == INVALID_API_VERSION_CODE:
        return Outcome.version_retired(PLATFORM, API_VERSION, message)
    error_class = f"tiktok_{error_code(code, request) or 'error'}"
    if code in THROTTLING_CODES:
        return Outcome.throttle(error_class, message, base.retry_after_seconds(response))
    if code in SERVER_ERROR_CODES or code == MAINTENANCE_CODE:
        return Outcome.retry(error_class, message, base.retry_after_seconds(response))
    refusal = Outcome.permanent(error_class, message)
    return refusal.refused_together() if code in EVENT_CONTENT_CODES else refusal


PROVIDER = TikTok()
