"""Meta Conversions API: `POST https://graph.facebook.com/{version}/{pixel_id}/events`.

* JSON body `{"data": [server events], "test_event_code"?}`; the access token travels as the `access_token`
  query parameter and is listed in `secrets`, so no recorded URL shows it.
* Up to 1,000 events per request, all or nothing: one invalid event makes Meta reject the whole request, so
  one outcome applies to every event of a request. Events Meta would refuse for certain are therefore held
  back before batching: no usable identifier (SKIPPED) and older than Meta's 7-day window (PERMANENT).
* `action_source` is "website": the journey started with a click on a tracked link to the customer's site and
  the conversion is reported from their backend. Meta also asks website events for `client_user_agent`, which
  Nimriz never has (design §4): Meta still accepts such events, possibly with less optimisation value; a
  customer can override `action_source` with a static mapping.
* `fbc` is `fb.1.<creation time ms>.<fbclid>`; Meta wants the time the fbclid was first seen, which for a
  conversion event is not known, so the conversion time is used (never later than the click, as Meta requires).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode

from pydantic import StringConstraints

from .base import (
    Built,
    Credentials,
    DeliveryItem,
    OutboundRequest,
    Outcome,
    Provider,
    ProviderResponse,
    SecretStr,
    classify_status,
    retry_after_seconds,
)
from .common import epoch_millis, epoch_seconds, json_bytes
from .conversions import (
    ConversionRequest,
    Normalizer,
    TestEventCode,
    build_batches,
    click_id,
    conversion_value,
    customer_contact,
    delivered,
    destination_url,
    hashed_all,
    lower_trimmed,
    missing_identifier,
    normalize_email,
    phone_digits,
    provider_message,
    response_json,
    standard_event,
    status_line_outcome,
    trimmed,
)

PLATFORM = "Meta"
GRAPH_BASE_URL = "https://graph.facebook.com"
GRAPH_API_VERSION = "v27.0"
MAX_EVENTS_PER_REQUEST = 1000
MAX_EVENT_AGE_SECONDS = 7 * 24 * 3600
ACTION_SOURCE = "website"
EVENT_NAMES: Mapping[str, str] = {"lead": "Lead", "sale": "Purchase"}

# Graph error codes worth retrying: unknown/service errors, app/user/application request limits, too many calls,
# and the business-use-case throttles (80000-80014, documented only in secondary sources).
RETRYABLE_ERROR_CODES = frozenset({1, 2, 4, 17, 341, 613})
THROTTLING_ERROR_CODES = range(80000, 80015)
INVALID_TOKEN_ERROR_CODE = 190


def _lower_without_spaces(value: str) -> str | None:
    return "".join(value.lower().split()) or None


# user_data keys Meta wants SHA-256 hashed, with the normalisation Meta specifies before hashing.
HASHED_USER_DATA: Mapping[str, Normalizer] = {
    "em": normalize_email,
    "ph": phone_digits,
    "external_id": trimmed,
    "fn": lower_trimmed,
    "ln": lower_trimmed,
    "ge": lower_trimmed,
    "db": trimmed,
    "ct": _lower_without_spaces,
    "st": _lower_without_spaces,
    "zp": _lower_without_spaces,
    "country": _lower_without_spaces,
}
# Keys Meta can match a person on by themselves.
IDENTIFIER_KEYS = ("em", "ph", "fbc", "fbp", "external_id")


class MetaCredentials(Credentials):
    pixel_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{5,20}$")]
    access_token: SecretStr
    test_event_code: TestEventCode | None = None


class Meta(Provider):
    destination_type = "meta"
    action_types = frozenset({"send_conversion"})
    credentials_model = MetaCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("event_name", "`Lead` for conversion.lead, `Purchase` for conversion.sale"),
        ("event_time", "`occurred_at` as Unix seconds; events older than 7 days fail as `event_too_old`, unsent"),
        ("event_id", "the event `id`: Meta deduplicates it against the Pixel's eventID (48 h)"),
        ("action_source", '"website" (no `client_user_agent`: Nimriz never holds the raw User-Agent)'),
        ("event_source_url", "`link.destination_url_capped`"),
        ("user_data.em", "`conversion.email`, trimmed and lower-cased, SHA-256 hex, as a one-item list"),
        ("user_data.ph", "`conversion.phone`, digits only with country code (no +, no leading 0), SHA-256 hex"),
        ("user_data.fbc", "`fb.1.<occurred_at in ms>.<click_ids.fbclid>`, not hashed"),
        ("user_data.external_id", "not sent by default (Nimriz visitor ids are unknown to Meta); hashed if mapped"),
        ("custom_data.value", "`conversion.value` (a lead's 0 is left out, so Meta applies no value)"),
        ("custom_data.currency", "`conversion.currency`, upper-case ISO-4217"),
        ("test_event_code", "the credentials' `test_event_code`, on test sends only (else a test send goes live)"),
        (
            "hashing",
            "em, ph, external_id, fn, ln, ge, db, ct, st, zp and country set by a mapping are normalised and "
            "hashed unless already SHA-256 hex: nothing Meta wants hashed leaves in clear",
        ),
        (
            "not sent",
            "`missing_identifier` without em, ph, fbc, fbp or external_id; refunds, cancellations and "
            "reversals `unsupported_outcome` (no negative conversions); link and card events `not_a_conversion`",
        ),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        name = standard_event(event, EVENT_NAMES)
        if name is None:
            return {}  # never sent: build_requests records why
        payload: dict[str, Any] = {
            "event_name": name,
            "event_time": epoch_seconds(event),
            "event_id": str(event["id"]),
            "action_source": ACTION_SOURCE,
            "user_data": _user_data(event),
        }
        if url := destination_url(event):
            payload["event_source_url"] = url
        if money := conversion_value(event):
            payload["custom_data"] = {"value": money[0], "currency": money[1]}
        return payload

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        return build_batches(
            items,
            platform=PLATFORM,
            prepare=lambda item: _prepare(item.payload, now),
            max_batch_size=self.max_batch_size,
            build_request=lambda payloads, positions, test: _request(payloads, positions, test, credentials),
        )

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        # All or nothing: Meta's answer applies to every event of the request.
        outcome = status_line_outcome(response, PLATFORM)
        if outcome is None:
            outcome = _acknowledged(request, response) if response.status < 300 else _graph_error(request, response)
        return dict.fromkeys(request.items, outcome)


def _user_data(event: Mapping[str, Any]) -> dict[str, Any]:
    user_data: dict[str, Any] = {}
    if email := customer_contact(event, "email"):
        user_data["em"] = hashed_all(email, normalize_email)
    if phone := customer_contact(event, "phone"):
        user_data["ph"] = hashed_all(phone, phone_digits)
    if fbclid := click_id(event, "fbclid"):
        user_data["fbc"] = f"fb.1.{epoch_millis(event)}.{fbclid}"
    return {key: value for key, value in user_data.items() if value}


def _prepare(payload: Mapping[str, Any], now: float) -> dict[str, Any] | Outcome:
    event = dict(payload)
    event["user_data"] = user_data = _hashed_user_data(payload.get("user_data"))
    if not any(user_data.get(key) for key in IDENTIFIER_KEYS):
        return missing_identifier(PLATFORM, "the customer's email or phone, or an fbclid on the click")
    event_time = payload.get("event_time")
    if isinstance(event_time, int) and now - event_time > MAX_EVENT_AGE_SECONDS:
        return Outcome.permanent("event_too_old", "Meta accepts events up to 7 days old and rejects the whole batch")
    return event


def _hashed_user_data(user_data: object) -> dict[str, Any]:
    """user_data with every field Meta wants hashed hashed (fields that end up empty are dropped)."""
    if not isinstance(user_data, Mapping):
        return {}
    result: dict[str, Any] = {}
    for key, value in user_data.items():
        normalize = HASHED_USER_DATA.get(key)
        if normalize is None:
            result[key] = value
        elif digests := hashed_all(value, normalize):
            result[key] = digests
    return result


def _request(
    payloads: list[dict[str, Any]], positions: tuple[int, ...], test: bool, credentials: Mapping[str, Any]
) -> OutboundRequest:
    body: dict[str, Any] = {"data": payloads}
    note = None
    if test:
        if code := credentials.get("test_event_code"):
            body["test_event_code"] = code
            note = "test send: sent with the test_event_code, see Events Manager > Test events"
        else:
            note = "test send: sent as a live event because no test_event_code is configured"
    token = str(credentials["access_token"])
    query = urlencode({"access_token": token})
    return ConversionRequest(
        method="POST",
        url=f"{GRAPH_BASE_URL}/{GRAPH_API_VERSION}/{credentials['pixel_id']}/events?{query}",
        headers={"Content-Type": "application/json"},
        body=json_bytes(body),
        items=positions,
        secrets=(token,),
        note=note,
    )


def _acknowledged(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    body = response_json(response)
    received = body.get("events_received") if isinstance(body, dict) else None
    if isinstance(received, int) and received != len(request.items):
        return delivered(request, f"Meta acknowledged {received} of {len(request.items)} events")
    return delivered(request)


def _graph_error(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    body = response_json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return classify_status(response)
    code = error.get("code")
    detail = " - ".join(str(text) for text in (error.get("message"), error.get("error_user_msg")) if text)
    message = provider_message(detail, request)
    if code == INVALID_TOKEN_ERROR_CODE:
        return Outcome.permanent("unauthorized", message)
    error_class = f"meta_error_{code}"
    if code in RETRYABLE_ERROR_CODES or code in THROTTLING_ERROR_CODES or error.get("is_transient") is True:
        return Outcome.retry(error_class, message, retry_after_seconds(response))
    return Outcome.permanent(error_class, message)


PROVIDER = Meta()
