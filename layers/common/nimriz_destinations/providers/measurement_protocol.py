"""GA4 Measurement Protocol, shared by `ga4` (Google's collect endpoint) and `gtm_server_side` (the same protocol
posted to the customer's tagging server). Reference: https://developers.google.com/analytics/devguides/collection/
protocol/ga4/reference, sending guide: https://developers.google.com/analytics/devguides/collection/protocol/ga4/
sending-events.

Payload shape. One mapped payload is one MP event plus the request-level fields it needs: `name`, `params` and
`timestamp_micros` go into `events[]` (GA4 takes a timestamp per event, overriding the request's); every other
key (`client_id`, `user_location`, `device`, `consent`, or `user_id` / `user_properties` added by an override)
is request-level. One request carries one client, so items are grouped by identical request-level fields, then
packed at most 25 events and under 130 kB per request.

Identity. GA4 web streams need `client_id`, normally the `_ga` cookie's `<random>.<first-visit time>`. We have no
cookie, so the client id is derived: the first 16 and the next 16 hex digits of SHA-256(visitor identity), each
reduced to a 10-digit number, give a stable `<10 digits>.<10 digits>`. The identity is `visitor.visitor_hash`
(daily-rotating, standard mode) or the synthetic per-click `visitor.click_id` (strict mode).

Sessions. The sending guide: events need `session_id` and `engagement_time_msec` in their params to show in
Realtime and session reports. We have no gtag session, so `session_id` is derived from the same visitor identity
(10 digits of SHA-256("session:" + identity)): one session per visitor hash, which rotates daily (a visitor-day), or
per click in strict mode. A conversion carries its click's visitor, so it joins the click's session.
`engagement_time_msec` is 1 on the visitor's own interactions (clicks, scans, card views, leads, sales): Nimriz
measures no engagement time, and 1 ms marks the visitor active without inventing engagement. Refunds,
cancellations and reversals are reported by the customer's backend, not done by the visitor: they carry the
session but no engagement time.

Consent. When the canonical event carries `consent` (`{ad_user_data: granted|denied, ad_personalization?: ...}`),
the request carries GA4's `consent: {ad_user_data: GRANTED|DENIED, ad_personalization: GRANTED|DENIED}`
(https://developers.google.com/analytics/devguides/collection/protocol/ga4/consent).

Limits (reference, "Limitations"): 25 params per event, event and param names of at most 40 characters, param
values of at most 100, 25 user properties with names of at most 24 characters and values of at most 36. GA4 drops
what breaks them without a word, so the adapter cuts to the limits before sending (names and values shortened;
params and user properties past the 25th dropped, keeping the mapping's order: the default params come most
important first) and reports every cut in the delivered outcome's message.

Dedup. The Measurement Protocol has no dedup key: a delivery retried after a lost response may count twice.
Purchases carry `transaction_id` (the event id), which GA4 reports use to deduplicate purchases.

Responses. `/mp/collect` answers 2xx to anything it receives and never reports payload errors, so the adapter
refuses up front what GA4 would silently drop (no client_id, no name, older than 72 hours). Test sends, queued or
validate-mode (`validation_channel`), go to the validation server (`/debug/mp/collect`, GA4 only: "Events sent to the
validation server do not appear in reports"; it "does not validate api_secret", validating-events guide) and its
`validationMessages` become the outcome (an answer without a readable list is `invalid_response`). A refusal of a
batch (validation messages, or a 400 from a server container) is isolated: its events are refused together and
resent at once in halves (design §8.1).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode, urlsplit

from pydantic import StringConstraints

from ..event_fields import compile_projection
from ..mapping import PropertyMapping
from .analytics import MappingDoc, age_seconds, pack
from .base import (
    Built,
    DeliveryItem,
    OutboundRequest,
    Outcome,
    Provider,
    ProviderResponse,
    ValidationMessage,
    Verdict,
    classify_status,
)
from .common import anonymous_id, epoch_millis, sha256_hex
from .ga4_names import name_problems
from .responses import invalid_response, read_json, typed

MAX_EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 130_000 - 1  # "POST body must be smaller than 130kB" (kB read as 1000 bytes, the stricter)
MAX_EVENT_NAME_CHARS = 40
MAX_PARAMS = 25
MAX_PARAM_NAME_CHARS = 40
MAX_PARAM_VALUE_CHARS = 100
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME_CHARS = 24
MAX_USER_PROPERTY_VALUE_CHARS = 36
ENGAGEMENT_TIME_MSEC = 1
MAX_EVENT_AGE_SECONDS = 72 * 3600  # backdating limit ("72 hours"; newer docs: 3 calendar days)
COLLECT_PATH = "/mp/collect"
VALIDATION_PATH = "/debug/mp/collect"
VALIDATION_FAILED = "ga4_validation_failed"
_MAX_VALIDATION_MESSAGE = 1000

MeasurementId = Annotated[str, StringConstraints(pattern=r"^G-[A-Z0-9]{4,20}$")]

# GA4 event names: recommended events where one fits (generate_lead, purchase, refund), else snake_case.
# A cancellation or reversal undoes a sale's revenue, which in GA4 is a `refund` of that transaction; the
# `conversion_outcome` param keeps which one it was.
EVENT_NAMES: Mapping[str, str] = {
    "link.clicked": "link_click",
    "link.qr_scanned": "qr_scan",
    "card.viewed": "card_view",
    "card.link_clicked": "card_link_click",
    "conversion.lead": "generate_lead",
    "conversion.sale": "purchase",
    "conversion.refund": "refund",
    "conversion.cancellation": "refund",
    "conversion.reversal": "refund",
}
_REFUND_TYPES = frozenset({"conversion.refund", "conversion.cancellation", "conversion.reversal"})
_CLICK_IDS = ("gclid", "gbraid", "wbraid", "fbclid", "ttclid", "li_fat_id", "msclkid")
_CONSENT_KEYS = ("ad_user_data", "ad_personalization")
_CONSENT_VALUES: Mapping[str, str] = {"granted": "GRANTED", "denied": "DENIED"}

# Event params: (param name, canonical path), most important first (after session_id, engagement_time_msec and
# transaction_id): when a mapping makes more than 25, the last ones are dropped. Names are GA4's own where it has
# one (value/currency, link_* as in enhanced measurement's click event, campaign fields as in `campaign_details`,
# page_referrer).
PARAM_SOURCES: tuple[tuple[str, str], ...] = (
    ("value", "conversion.value"),
    ("currency", "conversion.currency"),
    ("conversion_name", "conversion.conversion_name"),
    ("conversion_outcome", "conversion.outcome"),
    ("link_id", "link.url_id"),
    ("link_url", "link.short_url"),
    ("link_domain", "link.domain_name"),
    ("short_code", "link.short_code"),
    ("destination_url", "link.destination_url_capped"),
    ("touch_type", "touch_type"),
    ("source", "utm.source"),
    ("medium", "utm.medium"),
    ("campaign", "utm.campaign"),
    ("term", "utm.term"),
    ("content", "utm.content"),
    ("page_referrer", "context.referrer"),
    ("social_source", "context.social_source"),
    ("nimriz_event_id", "id"),
    *((name, f"click_ids.{name}") for name in _CLICK_IDS),
)
# The present ones, in PARAM_SOURCES' order: generated straight-line code (`compile_projection`), built once.
_present_params = compile_projection([(path, name) for name, path in PARAM_SOURCES])
# `device` object: (MP field, `context` field).
_DEVICE_SOURCES = (
    ("category", "device_category"),
    ("operating_system", "os_family"),
    ("browser", "browser_family"),
)
_EVENT_KEYS = frozenset({"name", "params", "timestamp_micros"})

DEFAULT_MAPPING_DOC: MappingDoc = (
    ("(request)", "POST {endpoint}?measurement_id=…&api_secret=… with {request-level fields, events: [...]}"),
    (
        "client_id",
        "`<10 digits>.<10 digits>` derived from SHA-256 of `visitor.visitor_hash` (standard mode) or "
        "`visitor.click_id` (strict mode): stable per visitor identity, in the `_ga` cookie's form",
    ),
    (
        "name",
        "link_click, qr_scan, card_view, card_link_click; conversions: generate_lead (lead), purchase (sale), "
        "refund (refund, cancellation and reversal); an unknown type: its code with '.' → '_'",
    ),
    ("timestamp_micros", "`occurred_at` in microseconds (per event)"),
    (
        "params.session_id",
        "10 digits derived from SHA-256 of the visitor identity (as client_id): one session per daily visitor hash, "
        "or per click in strict mode; a conversion joins its click's session (needed for Realtime and sessions)",
    ),
    (
        "params.engagement_time_msec",
        "1 (Nimriz measures no engagement time) on clicks, scans, card views, leads and sales; not on refunds, "
        "cancellations or reversals (the customer's backend, not the visitor)",
    ),
    (
        "params.transaction_id",
        "purchase: event `id`; refund/cancellation/reversal: `conversion.original_event_id` (the sale undone)",
    ),
    *((f"params.{name}", f"`{path}` when present") for name, path in PARAM_SOURCES),
    ("user_location.country_id", "`context.country` when present"),
    ("user_location.region_id", "`<context.country>-<context.region>` (ISO 3166-2) when both are present"),
    ("user_location.city", "`context.city` when present"),
    *((f"device.{name}", f"`context.{field}` when present") for name, field in _DEVICE_SOURCES),
    *(
        (f"consent.{key}", f"`consent.{key}` of the event when present: granted → GRANTED, denied → DENIED")
        for key in _CONSENT_KEYS
    ),
    ("(privacy)", "strict mode: no region_id, no city, client_id from the per-click id; never IP or user agent"),
    (
        "(not sent)",
        "conversion.email/phone, click_token, original_event_id (except as transaction_id), link.space_id/tag_ids/"
        "destination_host, context.colo/referrer_host: add them with an `include` override",
    ),
    (
        "(at send)",
        "GA4's limits applied, each cut named in the delivery's message: event and param names cut to 40 characters, "
        "string param values to 100, params past the 25th dropped (the mapping's order; defaults most important "
        "first), user property names cut to 24 characters and values to 36, user properties past the 25th dropped; "
        "at most 25 events and < 130 kB per request",
    ),
    ("(refused)", "no client_id or no name after mapping, or older than 72 hours: skipped (GA4 would drop it)"),
    ("(dedup)", "none in GA4: a retried delivery may count twice (purchases dedup by transaction_id in reports)"),
)


def _ten_digits(hex_digits: str) -> int:
    """A 10-digit number (no leading zero) from 16 hex digits of a digest."""
    return 1_000_000_000 + int(hex_digits, 16) % 9_000_000_000


# Remembered per identity (a pseudonymous hash or click id, never a contact): one visitor's events, and one event's
# several actions, ask for the same two SHA-256 digests.
@functools.lru_cache(maxsize=4096)
def client_id(identity: str) -> str:
    """A stable `<10 digits>.<10 digits>` client id for a visitor identity."""
    digest = sha256_hex(identity)
    return f"{_ten_digits(digest[:16])}.{_ten_digits(digest[16:32])}"


@functools.lru_cache(maxsize=4096)
def session_id(identity: str) -> str:
    """A stable 10-digit session id for a visitor identity (one session per identity: see the module doc)."""
    return str(_ten_digits(sha256_hex(f"session:{identity}")[:16]))


def event_name(event: Mapping[str, Any]) -> str:
    event_type = str(event["type"])
    return EVENT_NAMES.get(event_type) or event_type.replace(".", "_")[:MAX_EVENT_NAME_CHARS]


def measurement_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The default mapping of a (privacy-filtered) canonical event: one MP event plus its request-level fields."""
    identity = anonymous_id(event)
    payload: dict[str, Any] = {
        "client_id": client_id(identity),
        "name": event_name(event),
        "timestamp_micros": epoch_millis(event) * 1000,
        "params": _params(event, identity),
    }
    context = event.get("context") or {}
    location = _user_location(context)
    if location:
        payload["user_location"] = location
    device = {name: context[field] for name, field in _DEVICE_SOURCES if context.get(field) is not None}
    if device:
        payload["device"] = device
    consent = _consent(event)
    if consent:
        payload["consent"] = consent
    return payload


def _params(event: Mapping[str, Any], identity: str) -> dict[str, Any]:
    params: dict[str, Any] = {"session_id": session_id(identity)}
    if event["type"] not in _REFUND_TYPES:
        params["engagement_time_msec"] = ENGAGEMENT_TIME_MSEC
    transaction_id = _transaction_id(event)
    if transaction_id:
        params["transaction_id"] = transaction_id
    params.update(_present_params(event))
    return params


def _consent(event: Mapping[str, Any]) -> dict[str, str]:
    """GA4's consent object from the event's `consent` (granted/denied per key), empty when it has none."""
    consent = event.get("consent")
    if not isinstance(consent, Mapping):
        return {}
    values = {key: _CONSENT_VALUES.get(str(consent.get(key))) for key in _CONSENT_KEYS}
    return {key: value for key, value in values.items() if value}


def _transaction_id(event: Mapping[str, Any]) -> str | None:
    if event["type"] == "conversion.sale":
        return str(event["id"])
    if event["type"] in _REFUND_TYPES:
        original = (event.get("conversion") or {}).get("original_event_id")
        return str(original) if original else None
    return None


def _user_location(context: Mapping[str, Any]) -> dict[str, str]:
    country, region, city = context.get("country"), context.get("region"), context.get("city")
    location: dict[str, str] = {}
    if country:
        location["country_id"] = str(country)
        if region:
            location["region_id"] = str(region) if "-" in str(region) else f"{country}-{region}"
    if city:
        location["city"] = str(city)
    return location


def mp_query(measurement_id: str, api_secret: str | None) -> str:
    query = {"measurement_id": measurement_id}
    if api_secret:
        query["api_secret"] = api_secret
    return urlencode(query)


class MeasurementProtocol(Provider):
    """A destination speaking GA4's Measurement Protocol; subclasses say where it goes and with which secret."""

    action_types = frozenset({"send_event"})

    def mapping_problems(self, mapping: PropertyMapping) -> list[tuple[str, str]]:
        return name_problems(mapping)  # GA4 drops events and params with names that break its rules (ga4_names.py)

    max_batch_size = MAX_EVENTS_PER_REQUEST
    default_mapping_doc: ClassVar[MappingDoc] = DEFAULT_MAPPING_DOC
    # Whether test sends go to the validation server (only Google's endpoint has one).
    validates_test_sends: ClassVar[bool] = False

    def collect_url(self, credentials: Mapping[str, Any], *, validate: bool) -> str:
        raise NotImplementedError

    def validation_channel(self, credentials: Mapping[str, Any]) -> str | None:
        return f"the GA4 validation server ({VALIDATION_PATH})" if self.validates_test_sends else None

    def validation_messages(
        self, request: OutboundRequest, response: ProviderResponse
    ) -> list[ValidationMessage] | None:
        return validation_messages(response) if urlsplit(request.url).path.endswith(VALIDATION_PATH) else None

    def api_secret(self, credentials: Mapping[str, Any]) -> str | None:
        secret = credentials.get("api_secret")
        return str(secret) if secret else None

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return measurement_payload(event)

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        built = Built()
        # (validate?, request-level fields as canonical JSON) -> (those fields, [(position, MP event)])
        groups: dict[tuple[bool, str], tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]] = {}
        cuts: dict[int, str] = {}  # position -> what fitting it to GA4's limits changed
        for position, item in enumerate(items):
            refusal = _refusal(item, now)
            if refusal:
                built.skipped[position] = refusal
                continue
            fitted = _fitted(item.payload)
            if fitted.cuts:
                cuts[position] = fitted.cuts
            key = (
                self.validates_test_sends and item.reason == "test",
                json.dumps(fitted.request_fields, sort_keys=True),
            )
            groups.setdefault(key, (fitted.request_fields, []))[1].append((position, fitted.event))
        api_secret = self.api_secret(credentials)
        secrets = (api_secret,) if api_secret else ()
        for (validate, _), (request_fields, entries) in groups.items():
            url = self.collect_url(credentials, validate=validate)
            for positions, body in pack(
                entries, _envelope(request_fields), max_count=MAX_EVENTS_PER_REQUEST, max_bytes=MAX_BODY_BYTES
            ):
                adjustments = tuple(cuts.get(position) for position in positions)
                built.requests.append(
                    OutboundRequest(
                        method="POST",
                        url=url,
                        headers={"Content-Type": "application/json"},
                        body=body,
                        items=positions,
                        secrets=secrets,
                        adjustments=adjustments if any(adjustments) else (),
                    )
                )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        by_status = classify_status(response)
        if urlsplit(request.url).path.endswith(VALIDATION_PATH) and by_status.verdict is Verdict.DELIVERED:
            by_status = _validation_outcome(response)  # the validation server answers 200 either way
        if by_status.verdict is Verdict.PERMANENT and (
            response.status == 400 or by_status.error_class == VALIDATION_FAILED
        ):
            by_status = by_status.refused_together()  # names no event it could be about: isolated (design §8.1)
        outcomes = dict.fromkeys(request.items, by_status)
        if by_status.verdict is Verdict.DELIVERED:
            for position, adjustment in zip(request.items, request.adjustments, strict=False):
                if adjustment:
                    outcomes[position] = Outcome.delivered("; ".join(filter(None, (by_status.message, adjustment))))
        return outcomes


def _envelope(request_fields: dict[str, Any]) -> Callable[[list[Any]], dict[str, Any]]:
    def wrap(events: list[Any]) -> dict[str, Any]:
        return {**request_fields, "events": events}

    return wrap


def _refusal(item: DeliveryItem, now: float) -> Outcome | None:
    """Why GA4 would silently drop this item, or None when it is worth sending."""
    payload = item.payload
    if not isinstance(payload.get("client_id"), str) or not payload["client_id"]:
        return Outcome.skipped("missing_identifier", "the mapped event has no client_id; GA4 would drop it")
    if not isinstance(payload.get("name"), str) or not payload["name"]:
        return Outcome.skipped("missing_event_name", "the mapped event has no name; GA4 would drop it")
    age = age_seconds(item.event, now)
    if age > MAX_EVENT_AGE_SECONDS:
        return Outcome.skipped(
            "event_too_old",
            f"the event is {age / 3600:.0f} hours old; GA4 accepts events at most 72 hours old",
        )
    return None


@dataclass(frozen=True, slots=True)
class _Fitted:
    request_fields: dict[str, Any]
    event: dict[str, Any]  # name, params, timestamp_micros
    cuts: str | None  # what was cut to fit GA4's limits, for the delivery's message


def _fitted(payload: Mapping[str, Any]) -> _Fitted:
    """A mapped payload split into request-level fields and its MP event, cut to GA4's documented limits."""
    request_fields = {key: value for key, value in payload.items() if key not in _EVENT_KEYS}
    event = {key: value for key, value in payload.items() if key in _EVENT_KEYS}
    cuts: list[str] = []
    name = event["name"]  # `_refusal` made sure it is a non-empty string
    if len(name) > MAX_EVENT_NAME_CHARS:
        event["name"] = name[:MAX_EVENT_NAME_CHARS]
        cuts.append(f"event name cut to {MAX_EVENT_NAME_CHARS} characters")
    if isinstance(event.get("params"), dict):
        event["params"] = _fitted_entries(
            event["params"], _PARAM_LIMITS, lambda value: value, lambda value, cut: cut, cuts
        )
    if isinstance(request_fields.get("user_properties"), dict):
        # Each user property is `{"value": ...}`: the value inside is what the length limit applies to.
        request_fields["user_properties"] = _fitted_entries(
            request_fields["user_properties"],
            _USER_PROPERTY_LIMITS,
            lambda entry: entry.get("value") if isinstance(entry, dict) else None,
            lambda entry, cut: {**entry, "value": cut},
            cuts,
        )
    return _Fitted(request_fields, event, f"truncated to GA4's limits: {'; '.join(cuts)}" if cuts else None)


@dataclass(frozen=True, slots=True)
class _Limits:
    kind: str  # as the delivery message names one ("param", "user property")
    kinds: str  # and several ("params", "user properties")
    max_count: int
    max_name_chars: int
    max_value_chars: int


_PARAM_LIMITS = _Limits("param", "params", MAX_PARAMS, MAX_PARAM_NAME_CHARS, MAX_PARAM_VALUE_CHARS)
_USER_PROPERTY_LIMITS = _Limits(
    "user property",
    "user properties",
    MAX_USER_PROPERTIES,
    MAX_USER_PROPERTY_NAME_CHARS,
    MAX_USER_PROPERTY_VALUE_CHARS,
)
_MAX_NAMES_LISTED = 5


def _fitted_entries(
    entries: Mapping[str, Any],
    limits: _Limits,
    value_of: Callable[[Any], Any],
    with_value: Callable[[Any, str], Any],
    cuts: list[str],
) -> dict[str, Any]:
    """`entries` within `limits`: names and string values cut to length, entries past the maximum count (or whose
    cut name repeats an earlier one) dropped, in order; what changed is appended to `cuts`."""
    fitted: dict[str, Any] = {}
    renamed: list[str] = []
    shortened: list[str] = []
    dropped: list[str] = []
    for name, entry in entries.items():
        short_name = name[: limits.max_name_chars]
        if short_name in fitted or len(fitted) >= limits.max_count:
            dropped.append(short_name)
            continue
        if short_name != name:
            renamed.append(short_name)
        value = value_of(entry)
        if isinstance(value, str) and len(value) > limits.max_value_chars:
            entry = with_value(entry, value[: limits.max_value_chars])
            shortened.append(short_name)
        fitted[short_name] = entry
    if renamed:
        cuts.append(f"{limits.kind} names cut to {limits.max_name_chars} characters: {_listed(renamed)}")
    if shortened:
        cuts.append(f"{limits.kind} values cut to {limits.max_value_chars} characters: {_listed(shortened)}")
    if dropped:
        cuts.append(
            f"{limits.kinds} past the {limits.max_count}th (or repeating a cut name) dropped: {_listed(dropped)}"
        )
    return fitted


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMES_LISTED])
    return f"{shown} and {len(names) - _MAX_NAMES_LISTED} more" if len(names) > _MAX_NAMES_LISTED else shown


def _validation_outcome(response: ProviderResponse) -> Outcome:
    messages = validation_messages(response)
    if messages is None:
        problem = read_json(response.body).problem or "no validationMessages list"
        return invalid_response("The GA4 validation server", response, problem)
    if not messages:
        return Outcome.delivered("validated by the GA4 validation server (test sends do not appear in reports)")
    text = "; ".join(_describe(message) for message in messages)
    return Outcome.permanent(VALIDATION_FAILED, text[:_MAX_VALIDATION_MESSAGE])


def validation_messages(response: ProviderResponse) -> list[ValidationMessage] | None:
    """The validation server's `validationMessages`, None when the answer holds no such list. Google's validating-events
    guide (https://developers.google.com/analytics/devguides/collection/protocol/ga4/validating-events): the response
    is `{"validationMessages": Array<ValidationMessage>}`, each with `fieldPath` ("The path to the field that was
    invalid"), `description` ("A description of the error") and `validationCode` (VALUE_INVALID, VALUE_REQUIRED,
    NAME_INVALID, NAME_RESERVED, VALUE_OUT_OF_BOUNDS, EXCEEDED_MAX_ENTITIES, NAME_DUPLICATED); the list is empty for a
    request with no validation issues. Entries that are not objects are read as what they lack: "invalid"."""
    entries = typed(read_json(response.body).value, "validationMessages", list)
    if entries is None:
        return None
    return [
        ValidationMessage(
            typed(entry, "description", str) or "invalid",
            field_path=typed(entry, "fieldPath", str),
            code=typed(entry, "validationCode", str),
        )
        for entry in entries
    ]


def _describe(message: ValidationMessage) -> str:
    described = f"{message.field_path or 'request'}: {message.description}"
    return f"{described} ({message.code})" if message.code else described
