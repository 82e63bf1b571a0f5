"""GA4 Measurement Protocol (providers.md A1), shared by `ga4` (Google's collect endpoint) and `gtm_server_side`
(the same protocol posted to the customer's tagging server, A2).

Payload shape. One mapped payload is one MP event plus the request-level fields it needs: `name`, `params` and
`timestamp_micros` go into `events[]` (GA4 takes a timestamp per event, overriding the request's); every other
key (`client_id`, `user_location`, `device`, or `user_id` / `user_properties` / `consent` added by an override)
is request-level. One request carries one client, so items are grouped by identical request-level fields, then
packed at most 25 events and under 130 kB per request.

Identity. GA4 web streams need `client_id`, normally the `_ga` cookie's `<random>.<first-visit time>`. We have no
cookie, so the client id is derived: the first 16 and the next 16 hex digits of SHA-256(visitor identity), each
reduced to a 10-digit number, give a stable `<10 digits>.<10 digits>`. The identity is `visitor.visitor_hash`
(daily-rotating, standard mode) or the synthetic per-click `visitor.click_id` (strict mode).

Dedup. The Measurement Protocol has no dedup key: a delivery retried after a lost response may count twice.
Purchases carry `transaction_id` (the event id), which GA4 reports use to deduplicate purchases.

Responses. `/mp/collect` answers 2xx to anything it receives and never reports payload errors, so the adapter
refuses up front what GA4 would silently drop (no client_id, no name, older than 72 hours). Test sends go to the
validation server (`/debug/mp/collect`, GA4 only) and its `validationMessages` become the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode, urlsplit

from pydantic import StringConstraints

from ..event_fields import compile_path
from .analytics import MappingDoc, age_seconds, json_object, pack, secret_forms
from .base import Built, DeliveryItem, OutboundRequest, Outcome, Provider, ProviderResponse, Verdict, classify_status
from .common import anonymous_id, epoch_millis, sha256_hex

MAX_EVENTS_PER_REQUEST = 25
MAX_BODY_BYTES = 130_000 - 1  # "POST body must be smaller than 130kB" (kB read as 1000 bytes, the stricter)
MAX_PARAM_VALUE_CHARS = 100
MAX_EVENT_AGE_SECONDS = 72 * 3600  # backdating limit ("72 hours"; newer docs: 3 calendar days)
COLLECT_PATH = "/mp/collect"
VALIDATION_PATH = "/debug/mp/collect"
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

# Event params: (param name, canonical path). Names are GA4's own where it has one (link_* as in enhanced
# measurement's click event, campaign fields as in `campaign_details`, page_referrer, value/currency).
PARAM_SOURCES: tuple[tuple[str, str], ...] = (
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
    *((name, f"click_ids.{name}") for name in _CLICK_IDS),
    ("conversion_name", "conversion.conversion_name"),
    ("conversion_outcome", "conversion.outcome"),
    ("value", "conversion.value"),
    ("currency", "conversion.currency"),
    ("nimriz_event_id", "id"),
)
_PARAM_GETTERS = tuple((name, compile_path(path)) for name, path in PARAM_SOURCES)
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
    *((f"params.{name}", f"`{path}` when present") for name, path in PARAM_SOURCES),
    (
        "params.transaction_id",
        "purchase: event `id`; refund/cancellation/reversal: `conversion.original_event_id` (the sale undone)",
    ),
    ("user_location.country_id", "`context.country` when present"),
    ("user_location.region_id", "`<context.country>-<context.region>` (ISO 3166-2) when both are present"),
    ("user_location.city", "`context.city` when present"),
    *((f"device.{name}", f"`context.{field}` when present") for name, field in _DEVICE_SOURCES),
    ("(privacy)", "strict mode: no region_id, no city, client_id from the per-click id; never IP or user agent"),
    (
        "(not sent)",
        "conversion.email/phone, click_token, original_event_id (except as transaction_id), link.space_id/tag_ids/"
        "destination_host, context.colo/referrer_host: add them with an `include` override",
    ),
    ("(at send)", "string param values cut to 100 characters; at most 25 events and < 130 kB per request"),
    ("(refused)", "no client_id or no name after mapping, or older than 72 hours: skipped (GA4 would drop it)"),
    ("(dedup)", "none in GA4: a retried delivery may count twice (purchases dedup by transaction_id in reports)"),
)


def client_id(identity: str) -> str:
    """A stable `<10 digits>.<10 digits>` client id for a visitor identity."""
    digest = sha256_hex(identity)
    first, second = (1_000_000_000 + int(digest[start : start + 16], 16) % 9_000_000_000 for start in (0, 16))
    return f"{first}.{second}"


def event_name(event: Mapping[str, Any]) -> str:
    event_type = str(event["type"])
    return EVENT_NAMES.get(event_type) or event_type.replace(".", "_")[:40]


def measurement_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The default mapping of a (privacy-filtered) canonical event: one MP event plus its request-level fields."""
    payload: dict[str, Any] = {
        "client_id": client_id(anonymous_id(event)),
        "name": event_name(event),
        "timestamp_micros": epoch_millis(event) * 1000,
        "params": _params(event),
    }
    context = event.get("context") or {}
    location = _user_location(context)
    if location:
        payload["user_location"] = location
    device = {name: context[field] for name, field in _DEVICE_SOURCES if context.get(field) is not None}
    if device:
        payload["device"] = device
    return payload


def _params(event: Mapping[str, Any]) -> dict[str, Any]:
    params = {name: value for name, get in _PARAM_GETTERS if (value := get(event)) is not None}
    transaction_id = _transaction_id(event)
    if transaction_id:
        params["transaction_id"] = transaction_id
    return params


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
    max_batch_size = MAX_EVENTS_PER_REQUEST
    default_mapping_doc: ClassVar[MappingDoc] = DEFAULT_MAPPING_DOC
    # Whether test sends go to the validation server (only Google's endpoint has one).
    validates_test_sends: ClassVar[bool] = False

    def collect_url(self, credentials: Mapping[str, Any], *, validate: bool) -> str:
        raise NotImplementedError

    def api_secret(self, credentials: Mapping[str, Any]) -> str | None:
        secret = credentials.get("api_secret")
        return str(secret) if secret else None

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return measurement_payload(event)

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        built = Built()
        # (validate?, request-level fields as canonical JSON) -> (those fields, [(position, MP event)])
        groups: dict[tuple[bool, str], tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]] = {}
        for position, item in enumerate(items):
            refusal = _refusal(item, now)
            if refusal:
                built.skipped[position] = refusal
                continue
            request_fields, event = _split(item.payload)
            key = (self.validates_test_sends and item.reason == "test", json.dumps(request_fields, sort_keys=True))
            groups.setdefault(key, (request_fields, []))[1].append((position, event))
        secrets = secret_forms(self.api_secret(credentials))
        for (validate, _), (request_fields, entries) in groups.items():
            url = self.collect_url(credentials, validate=validate)
            for positions, body in pack(
                entries, _envelope(request_fields), max_count=MAX_EVENTS_PER_REQUEST, max_bytes=MAX_BODY_BYTES
            ):
                built.requests.append(
                    OutboundRequest(
                        method="POST",
                        url=url,
                        headers={"Content-Type": "application/json"},
                        body=body,
                        items=positions,
                        secrets=secrets,
                    )
                )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        by_status = classify_status(response)
        if urlsplit(request.url).path.endswith(VALIDATION_PATH) and by_status.verdict is Verdict.DELIVERED:
            by_status = _validation_outcome(response)  # the validation server answers 200 either way
        return dict.fromkeys(request.items, by_status)


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


def _split(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request-level fields, MP event) of a mapped payload, string param values cut to GA4's 100 characters."""
    request_fields = {key: value for key, value in payload.items() if key not in _EVENT_KEYS}
    event = {key: value for key, value in payload.items() if key in _EVENT_KEYS}
    params = event.get("params")
    if isinstance(params, dict):
        event["params"] = {
            name: value[:MAX_PARAM_VALUE_CHARS] if isinstance(value, str) else value for name, value in params.items()
        }
    return request_fields, event


def _validation_outcome(response: ProviderResponse) -> Outcome:
    messages = json_object(response.body).get("validationMessages")
    if not isinstance(messages, list):
        return Outcome.permanent("ga4_validation_unreadable", "the GA4 validation server gave no validationMessages")
    if not messages:
        return Outcome.delivered("validated by the GA4 validation server (test sends do not appear in reports)")
    text = "; ".join(_describe(message) for message in messages)
    return Outcome.permanent("ga4_validation_failed", text[:_MAX_VALIDATION_MESSAGE])


def _describe(message: Any) -> str:
    if not isinstance(message, dict):
        return str(message)
    code = f" ({message['validationCode']})" if message.get("validationCode") else ""
    return f"{message.get('fieldPath') or 'request'}: {message.get('description') or 'invalid'}{code}"
