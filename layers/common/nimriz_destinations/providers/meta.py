"""Meta Conversions API: `POST https://graph.facebook.com/{version}/{pixel_id}/events`.

* JSON body `{"data": [server events], "test_event_code"?}`; the access token travels as the `access_token`
  query parameter and is listed in `secrets`, so no recorded URL shows it.
* Up to 1,000 events per request, all or nothing: one invalid event makes Meta reject the whole request. So
  every event is checked against Meta's required server-event parameters before batching
  (https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/server-event) and one Meta
  would refuse fails alone: `event_name`, `event_time` in Unix seconds within Meta's window (7 days; 62 for
  `physical_store`) and not in the future, `action_source` from Meta's list, and a `Purchase` with
  `custom_data.currency` and a numeric `custom_data.value` (Segment's Facebook Conversions API destination
  refuses a Purchase without them too). No usable identifier is SKIPPED instead.
* When Meta still refuses a request and its error names the event (`data[3]`, `$['data'][3]` or
  `error_data.event_index`), that event fails alone with Meta's message; the rest are `Outcome.resend`: the
  dispatcher sends them again at once without it (https://developers.facebook.com/docs/graph-api/guides/error-handling).
  An invalid-parameter error (Graph code 100) naming no event refuses the events together: the dispatcher resends
  them at once in halves until the refusal is one event's own (design §8.1).
* Delivered only with proof: a 2xx answer's `events_received` ("Gets the count of events received.",
  facebook/facebook-python-business-sdk, adobjects/serverside/event_response.py) must count every event sent. Fewer:
  the events Meta's `messages` name (`data[i]`) fail with its message, and when they do not account for every event
  missing, the others are not proven either: refused together, resent at once in halves until each is counted or
  alone (then retried later; Meta deduplicates a resent event by its event_id). No readable count is
  `invalid_response`, permanent: Meta had the request.
* `action_source` comes from the destination's `action_source` credential unless a mapping sets it. The default is
  `other` ("Conversion happened in a way that is not listed", facebook-python-business-sdk
  `adobjects/serverside/action_source.py`): Meta's Conversions API parameters page
  (https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/) says "Website events shared
  using the Conversions API require the `client_user_agent`, `action_source`, and `event_source_url` parameters,
  while non-web events require only `action_source`", and Nimriz never has a user agent (design §4). A customer
  whose conversions do happen on a website may still choose `website`.
* Limited Data Use (https://developers.facebook.com/docs/marketing-apis/data-processing-options): with the
  destination's `limited_data_use`, and always for an event in strict privacy mode, each event carries
  `data_processing_options: ["LDU"]` with `data_processing_options_country: 0` and `data_processing_options_state: 0`
  ("use 0 to ask us to geolocate this event"; the fields of facebook-python-business-sdk
  `adobjects/serverside/event.py`), whatever a mapping set there.
* Match keys from the event context (customer-information parameters,
  https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters):
  `country` always; `ct` and `st` only in standard privacy mode (strict mode removes city and region before
  mapping; the adapter checks the mode too, so nothing re-adds them). All SHA-256 hashed after Meta's
  normalisation.
* `fbc` is `fb.1.<creation time ms>.<fbclid>`; Meta wants the time the fbclid was first seen. The canonical event
  carries no click time, so the conversion time is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlencode

from pydantic import StringConstraints

from . import base
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, Verdict
from .common import epoch_millis, epoch_seconds, json_bytes
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
    hashed_all,
    limited_data_use,
    lower_trimmed,
    missing_identifier,
    normalize_email,
    phone_digits,
    standard_event,
    test_event_code,
    trimmed,
)
from .responses import (
    invalid_response,
    json_object,
    parse_json,
    provider_message,
    read_json,
    status_line_outcome,
    typed,
    typed_entries,
)
from .test_event_code import TestEventCode

PLATFORM = "Meta"
GRAPH_BASE_URL = "https://graph.facebook.com"
GRAPH_API_VERSION = "v27.0"
MAX_EVENTS_PER_REQUEST = 1000
MAX_EVENT_AGE_SECONDS = 7 * 24 * 3600
MAX_PHYSICAL_STORE_AGE_SECONDS = 62 * 24 * 3600
# Meta refuses event times in the future; a little clock skew between us and Meta is tolerated.
FUTURE_TOLERANCE_SECONDS = 600
ActionSource = Literal[
    "website", "app", "phone_call", "chat", "email", "physical_store", "system_generated", "business_messaging", "other"
]
ACTION_SOURCES = frozenset(get_args(ActionSource))
DEFAULT_ACTION_SOURCE: ActionSource = "other"  # a non-web source: Meta requires no client_user_agent of it
EVENT_NAMES: Mapping[str, str] = {"lead": "Lead", "sale": "Purchase"}

# Graph error codes worth retrying: unknown/service errors and "Application limit reached".
RETRYABLE_ERROR_CODES = frozenset({1, 2, 341})
# Meta's rate limits (https://developers.facebook.com/docs/graph-api/overview/rate-limiting, "Throttle Error Codes"
# and the Business Use Case "Error Codes"): 4 app, 17 user, 32 Pages, 613 custom rate limit; 80000-80014 the
# business use cases (80000 Ads Insights, 80004 Ads Management, ... 80014 Catalog Batch). Throttled: tried again
# when Meta says access returns (`_regain_seconds`), not counted against the attempts.
THROTTLING_ERROR_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
INVALID_TOKEN_ERROR_CODE = 190
# Limited Data Use with country and state 0: "use 0 to ask us to geolocate this event" (Data Processing Options).
LIMITED_DATA_USE: Mapping[str, Any] = {
    "data_processing_options": ["LDU"],
    "data_processing_options_country": 0,
    "data_processing_options_state": 0,
}
# "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version" (Meta, "Upcoming
# change in Marketing API version deprecation to enable version auto-upgrade", 2024-04-16): GRAPH_API_VERSION is
# no longer served (calls to an expired version "may fail or be upgraded to the next available version").
DEPRECATED_VERSION_ERROR_CODE = 2635
INVALID_PARAMETER_ERROR_CODE = 100  # Graph's "Invalid parameter" (graph-api/guides/error-handling)
# How Graph names the offending event: `data[3]`, `data[3][event_time]` or `$['data'][3]['custom_data']`.
_EVENT_REFERENCE = re.compile(r"""data(?:['"]\])?\[([0-9]{1,9})\]""")  # an index, not any run of digits
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def _lower_without_spaces(value: str) -> str | None:
    return "".join(value.lower().split()) or None


def _letters_only(value: str) -> str | None:
    """Meta's city (and non-US state) form: lower-case, no digits, spaces or punctuation; other letters kept (UTF-8)."""
    return "".join(filter(str.isalpha, value.lower())) or None


# US states, DC and territories by name (letters only, lower-case): Meta wants US states as 2-letter ANSI codes.
US_STATE_CODES: Mapping[str, str] = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca", "colorado": "co",
    "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc", "florida": "fl", "georgia": "ga",
    "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks",
    "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny", "northcarolina": "nc",
    "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa", "rhodeisland": "ri",
    "southcarolina": "sc", "southdakota": "sd", "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt",
    "virginia": "va", "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
    "americansamoa": "as", "guam": "gu", "northernmarianaislands": "mp", "puertorico": "pr",
    "virginislands": "vi", "usvirginislands": "vi",
}  # fmt: skip


def _state(region: str, country: str | None) -> str | None:
    """`st` before hashing: a US state as its 2-letter code (from a code or a name), any other region letters only."""
    letters = _letters_only(region)
    if letters and country == "US":
        return US_STATE_CODES.get(letters, letters)
    return letters


def _country(value: str) -> str | None:
    """ISO 3166-1 alpha-2, lower-case; None for anything else (a hashed wrong value would only miss)."""
    code = value.strip().lower()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


# user_data keys Meta wants SHA-256 hashed, with the normalisation Meta specifies before hashing.
HASHED_USER_DATA: Mapping[str, Normalizer] = {
    "em": normalize_email,
    "ph": phone_digits,
    "external_id": trimmed,
    "fn": lower_trimmed,
    "ln": lower_trimmed,
    "ge": lower_trimmed,
    "db": trimmed,
    "ct": _letters_only,
    "st": _letters_only,
    "zp": _lower_without_spaces,
    "country": _country,
}
# Keys Meta can match a person on by themselves.
IDENTIFIER_KEYS = ("em", "ph", "fbc", "fbp", "external_id")


class MetaCredentials(base.Credentials):
    pixel_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{5,20}$")]
    access_token: base.SecretStr
    test_event_code: TestEventCode | None = None
    # Where the conversions happen, in Meta's words; a mapping that sets `action_source` wins.
    action_source: ActionSource = DEFAULT_ACTION_SOURCE
    # Ask Meta to limit its processing of every event (events in strict privacy mode always are).
    limited_data_use: bool = False


class Meta(ProviderWithTestEvents):
    destination_type = "meta"
    action_types = frozenset({"send_conversion"})
    credentials_model = MetaCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("event_name", "`Lead` for conversion.lead, `Purchase` for conversion.sale"),
        ("event_time", "`occurred_at` as Unix seconds"),
        ("event_id", "the event `id`: Meta deduplicates it against the Pixel's eventID (48 h)"),
        (
            "action_source",
            "the credentials' `action_source` (default `other`), unless a mapping sets it. Meta requires "
            "`client_user_agent` of `website` events and only `action_source` of non-web ones (Conversions API "
            "parameters); Nimriz never has a user agent",
        ),
        ("event_source_url", "`link.destination_url_capped`"),
        ("user_data.em", "`conversion.email`, trimmed and lower-cased, SHA-256 hex, as a one-item list"),
        ("user_data.ph", "`conversion.phone`, digits only with country code (no +, no leading 0), SHA-256 hex"),
        ("user_data.country", "`context.country`, lower-case ISO 3166-1 alpha-2, SHA-256 hex"),
        (
            "user_data.ct",
            "`context.city`, lower-case letters only (no spaces, digits or punctuation), SHA-256 hex; "
            "standard privacy mode only (never in strict mode)",
        ),
        (
            "user_data.st",
            "`context.region`: US states as their 2-letter code, other regions lower-case letters only, SHA-256 hex; "
            "standard privacy mode only (never in strict mode)",
        ),
        (
            "user_data.fbc",
            "`fb.1.<occurred_at in ms>.<click_ids.fbclid>`, not hashed (the canonical event has no click time, so "
            "the conversion time stands in for the time the fbclid was first seen)",
        ),
        ("user_data.external_id", "not sent by default (Nimriz visitor ids are unknown to Meta); hashed if mapped"),
        ("custom_data.value", "`conversion.value` (a lead's 0 is left out, so Meta applies no value)"),
        ("custom_data.currency", "`conversion.currency`, upper-case ISO-4217"),
        ("test_event_code", "the credentials' `test_event_code`, on test sends only (else a test send goes live)"),
        (
            "data_processing_options, _country, _state",
            '`["LDU"]`, 0, 0 (Limited Data Use, Meta geolocates) for events in strict privacy mode and on destinations '
            "with `limited_data_use`, whatever a mapping sets; else not sent",
        ),
        (
            "hashing",
            "em, ph, external_id, fn, ln, ge, db, ct, st, zp and country set by a mapping are normalised and "
            "hashed unless already SHA-256 hex: nothing Meta wants hashed leaves in clear",
        ),
        (
            "refused alone",
            "an event Meta would refuse fails permanently on its own, never in a batch: `missing_event_name`, "
            "`invalid_event_time` (not Unix seconds, or in the future), `event_too_old` (over 7 days; 62 for "
            "physical_store), `invalid_action_source`, `purchase_without_currency` / `purchase_without_value`; "
            "when Meta refuses a batch naming `data[i]`, that event fails with Meta's message and the others are "
            "resent at once",
        ),
        ("not sent", f"`missing_identifier` without em, ph, fbc, fbp or external_id; {SCREENED_OUT_DOC}"),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        name = standard_event(event, EVENT_NAMES)
        if name is None:
            return {}  # never sent: build_requests records why
        payload: dict[str, Any] = {
            "event_name": name,
            "event_time": epoch_seconds(event),
            "event_id": str(event["id"]),
            "user_data": _user_data(event),
        }
        if url := destination_url(event):
            payload["event_source_url"] = url
        if money := conversion_value(event):
            payload["custom_data"] = {"value": money[0], "currency": money[1]}
        return payload

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        action_source = str(credentials.get("action_source") or DEFAULT_ACTION_SOURCE)
        return build_batches(
            items,
            platform=PLATFORM,
            prepare=lambda item: _prepare(item.payload, action_source, now, limited_data_use(item.event, credentials)),
            max_batch_size=self.max_batch_size,
            build_request=lambda payloads, positions, test: _request(payloads, positions, test, credentials),
        )

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        # A 429 is read like any Graph error: its code and usage headers say how long to wait.
        outcome = None if response.status == 429 else status_line_outcome(PLATFORM, response)
        if outcome is not None:
            return dict.fromkeys(request.items, outcome)
        if response.status < 300:
            return _acknowledged(request, response)
        outcome = _graph_error(request, response)
        refused = _refused_event(request, response) if outcome.verdict is Verdict.PERMANENT else None
        if refused is None or outcome.error_class == "unauthorized":
            if (
                outcome.verdict is Verdict.PERMANENT
                and outcome.error_class == f"meta_error_{INVALID_PARAMETER_ERROR_CODE}"
            ):
                outcome = outcome.refused_together()  # about an event it does not name: isolated
            return dict.fromkeys(request.items, outcome)  # all or nothing: Meta's answer applies to every event
        resend = Outcome.resend(f"Meta refused the batch because of another event in it (data[{refused}])")
        return {position: outcome if index == refused else resend for index, position in enumerate(request.items)}


def _user_data(event: Mapping[str, Any]) -> dict[str, Any]:
    user_data: dict[str, Any] = {}
    if email := customer_contact(event, "email"):
        user_data["em"] = hashed_all(email, normalize_email)
    if phone := customer_contact(event, "phone"):
        user_data["ph"] = hashed_all(phone, phone_digits)
    if fbclid := click_id(event, "fbclid"):
        user_data["fbc"] = f"fb.1.{epoch_millis(event)}.{fbclid}"
    context = event.get("context") or {}
    country = context.get("country") if isinstance(context.get("country"), str) else None
    if country:
        user_data["country"] = hashed_all(country, _country)
    # City and region identify a person more closely: standard privacy mode only, whatever the event still holds.
    if event.get("privacy_mode") == "standard":
        if isinstance(city := context.get("city"), str):
            user_data["ct"] = hashed_all(city, _letters_only)
        if isinstance(region := context.get("region"), str):
            user_data["st"] = hashed_all(region, lambda value: _state(value, country))
    return {key: value for key, value in user_data.items() if value}


def _prepare(payload: Mapping[str, Any], action_source: str, now: float, limited: bool) -> dict[str, Any] | Outcome:
    event = {"action_source": action_source, **payload}
    if limited:
        event |= LIMITED_DATA_USE
    event["user_data"] = user_data = _hashed_user_data(payload.get("user_data"))
    if not any(user_data.get(key) for key in IDENTIFIER_KEYS):
        return missing_identifier(PLATFORM, "the customer's email or phone, or an fbclid on the click")
    return _refusal(event, now) or event


def _refusal(event: Mapping[str, Any], now: float) -> Outcome | None:
    """Why Meta would refuse this server event (and with it its whole batch), or None when it is fine to send."""
    if not isinstance(event.get("event_name"), str) or not event["event_name"]:
        return Outcome.permanent("missing_event_name", "Meta requires an event_name")
    action_source = event.get("action_source")
    if action_source not in ACTION_SOURCES:
        allowed = ", ".join(sorted(ACTION_SOURCES))
        return Outcome.permanent("invalid_action_source", f"Meta accepts only these action_source values: {allowed}")
    event_time = event.get("event_time")
    if type(event_time) is not int or event_time > now + FUTURE_TOLERANCE_SECONDS:
        return Outcome.permanent("invalid_event_time", "Meta requires event_time in Unix seconds, not in the future")
    max_age = MAX_PHYSICAL_STORE_AGE_SECONDS if action_source == "physical_store" else MAX_EVENT_AGE_SECONDS
    if now - event_time > max_age:
        days = max_age // (24 * 3600)
        return Outcome.permanent("event_too_old", f"Meta accepts {action_source} events up to {days} days old")
    if event["event_name"] == "Purchase":
        return _purchase_refusal(event.get("custom_data"))
    return None


def _purchase_refusal(custom_data: object) -> Outcome | None:
    custom = custom_data if isinstance(custom_data, Mapping) else {}
    currency = custom.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        return Outcome.permanent(
            "purchase_without_currency", "Meta refuses a Purchase without custom_data.currency (ISO 4217 code)"
        )
    value = custom.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Outcome.permanent(
            "purchase_without_value", "Meta refuses a Purchase without a numeric custom_data.value"
        )
    return None


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
    token = str(credentials["access_token"])
    query = urlencode({"access_token": token})
    test_fields, note = test_event_code(credentials, test)
    return ConversionRequest(
        method="POST",
        url=f"{GRAPH_BASE_URL}/{GRAPH_API_VERSION}/{credentials['pixel_id']}/events?{query}",
        headers={"Content-Type": "application/json"},
        body=json_bytes({"data": payloads, **test_fields}),
        items=positions,
        secrets=(token,),
        note=note,
    )


def _acknowledged(request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
    """A 2xx answer: delivered when `events_received` counts every event sent (see the module's docstring)."""
    body = read_json(response.body)
    received = typed(body.value, "events_received", int)
    sent = len(request.items)
    if received is None or received < 0:
        problem = body.problem_with("events_received", int) or "no events_received count"
        return dict.fromkeys(request.items, invalid_response(PLATFORM, response, problem))
    if received >= sent:
        return dict.fromkeys(request.items, delivered(request))
    named: dict[int, str] = {}
    for text in typed_entries(body.value, "messages", str):
        for match in _EVENT_REFERENCE.finditer(text):
            if int(match.group(1)) < sent:
                named.setdefault(int(match.group(1)), text)
    count = f"Meta acknowledged {received} of {sent} events"
    unproven = sent - len(named) > received  # the named ones do not account for every event missing
    missing = Outcome.retry("meta_events_not_received", f"{count}; this one is not known to be received")
    outcomes = {}
    for index, position in enumerate(request.items):
        if index in named:
            outcomes[position] = Outcome.permanent("meta_event_not_received", provider_message(named[index], request))
        else:
            outcomes[position] = missing.refused_together() if unproven else delivered(request, count)
    return outcomes


def _graph_error(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    error = _error(response)
    if error is None:
        return base.classify_status(response)
    code = typed(error, "code", int)
    detail = " - ".join(text for key in ("message", "error_user_msg") if (text := typed(error, key, str)))
    message = provider_message(detail, request)
    if code == INVALID_TOKEN_ERROR_CODE:
        return Outcome.permanent("unauthorized", message)
    if code == DEPRECATED_VERSION_ERROR_CODE:
        return Outcome.version_retired(PLATFORM, GRAPH_API_VERSION, message)
    error_class = f"meta_error_{code}" if type(code) is int and code >= 0 else "meta_error"  # Graph codes are numbers
    if code in THROTTLING_ERROR_CODES:
        return Outcome.throttle(error_class, message, _regain_seconds(response))
    if code in RETRYABLE_ERROR_CODES or error.get("is_transient") is True:
        return Outcome.retry(error_class, message)  # Meta sends no Retry-After: our own schedule
    return Outcome.permanent(error_class, message)


def _regain_seconds(response: ProviderResponse) -> float | None:
    """When a throttled app may call again, by Meta's usage headers
    (https://developers.facebook.com/docs/graph-api/overview/rate-limiting, "Headers"): the longest of every
    `X-Business-Use-Case-Usage` entry's `estimated_time_to_regain_access` ("Time, in minutes, until calls will not
    longer be throttled") and `X-Ad-Account-Usage`'s `reset_time_duration` ("Time duration (in seconds) it takes to
    reset the current rate limit to 0"). None when neither says (`X-App-Usage` holds only percentages of a rolling
    hour): our own schedule then."""
    business_use_cases = json_object((response.header("x-business-use-case-usage") or "").encode())
    minutes = [
        _number(entry, "estimated_time_to_regain_access")
        for entries in business_use_cases.values()
        for entry in (entries if isinstance(entries, list) else [])
    ]
    ad_account = json_object((response.header("x-ad-account-usage") or "").encode())
    longest = max([60.0 * wait for wait in minutes], default=0.0)
    longest = max(longest, _number(ad_account, "reset_time_duration"))
    return longest if longest > 0 else None


def _number(container: object, key: str) -> float:
    """A usage header's figure (Meta sends whole numbers, some figures with decimals), 0 when absent or not one."""
    value = typed(container, key, int)
    return float(value if value is not None else typed(container, key, float) or 0)


def _refused_event(request: OutboundRequest, response: ProviderResponse) -> int | None:
    """The index in `data` of the event Meta's error names, when it names one of this request's events."""
    error = _error(response)
    if error is None:
        return None
    index = _event_index(error.get("error_data"))
    if index is None:
        texts = (typed(error, key, str) for key in ("error_user_msg", "message", "error_user_title"))
        found = (_EVENT_REFERENCE.search(text) for text in texts if text)
        index = next((int(match.group(1)) for match in found if match), None)
    return index if index is not None and 0 <= index < len(request.items) else None


def _error(response: ProviderResponse) -> dict[str, Any] | None:
    """Graph's `error` object, when the answer has one."""
    return typed(read_json(response.body).value, "error", dict)


def _event_index(error_data: object) -> int | None:
    """`event_index` of Graph's `error_data`, which comes as an object or as a JSON-encoded string."""
    if isinstance(error_data, str):
        error_data = parse_json(error_data.encode())
    return typed(error_data, "event_index", int)


PROVIDER = Meta()
