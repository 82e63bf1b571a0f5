"""Amplitude HTTP V2 API (https://amplitude.com/docs/apis/analytics/http-v2): `POST /2/httpapi` with
`{"api_key", "events": [...]}`.

Hosts: us → https://api2.amplitude.com, eu → https://api.eu.amplitude.com. The API key travels in the body
(Amplitude takes no auth header). Limits: under 1 MB and at most 2000 events per request (the HTTP V2 page says
"fewer than 2000", the batching guide "up to 2,000": the size limit is what a 413 enforces).

Ids: each `user_id` / `device_id` an event carries must be a string of at least 5 characters (the HTTP V2 page's
"Device IDs and User IDs minimum length"; we send no `options.min_id_length`). Amplitude rejects the whole request
for one short id, so an event breaking this is refused before sending, alone, with the reason.

Responses (HTTP V2 reference):
* 200 delivered.
* 400 rejects the whole request. Events named per event are permanent and the rest are retried, as Amplitude's own
  SDKs do ("remove those events and resend the rest"; Amplitude-TypeScript `handleInvalidResponse`,
  Amplitude-Python `Response.invalid_or_silenced_index`): indices in `events_with_invalid_fields`,
  `events_with_missing_fields`, `events_with_invalid_id_lengths` and `silenced_events`, and events of a device in
  `silenced_devices`. Listed `throttled_events` are retried after the 30 s pause. Every event is permanent only
  for an invalid API key or a missing request-level field (`missing_field`); any other answer of Amplitude's naming
  no event (e.g. "Invalid JSON request body") is retried, as Amplitude-Python does (`src/amplitude/processor.py`: `if
  res.error.startswith("Invalid API key:")` ... `if res.missing_field` ... `else`: the events not listed are
  pushed back for retry), and so does Amplitude-TypeScript (`handleInvalidResponse`).
* 429 rejects the request: `throttled_events` are retried after max(Retry-After, 30 s) ("pause sending events for
  that user or device for 30 seconds"), throttled (design §8.1: not counted against the attempts); events of a
  user/device over its daily quota are permanent (Amplitude's SDK drops them too); the other events are retried
  without the pause.
* 413: one event → permanent; a batch → refused together (resent at once in halves, design §8.1). 403 (WAF block)
  and other 4xx permanent; 408 and 5xx retried — 500/502/504 may have been ingested, which `insert_id` (7-day
  dedup) makes safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from . import base
from .analytics import (
    EVENT_NAME_DOC,
    IDENTITY_DOC,
    MappingDoc,
    canonical_properties,
    human_event_name,
    json_posts,
    property_doc,
    screened,
    signed_revenue,
)
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse
from .common import anonymous_id, epoch_millis
from .responses import (
    error_excerpt,
    json_object,
    provider_message,
    status_outcome,
    too_large_outcomes,
    typed,
    typed_entries,
)

ENDPOINTS: Mapping[str, str] = {
    "us": "https://api2.amplitude.com/2/httpapi",
    "eu": "https://api.eu.amplitude.com/2/httpapi",
}
MAX_EVENTS_PER_REQUEST = 2000
MAX_BODY_BYTES = 1_000_000 - 1  # "under 1 MB" (MB read as 10^6 bytes, the stricter)
THROTTLE_PAUSE_SECONDS = 30.0
# The error text both official SDKs give up on (Amplitude-Python: `startswith("Invalid API key:")`;
# Amplitude-TypeScript: `startsWith(INVALID_API_KEY)`).
INVALID_API_KEY_ERROR = "Invalid API key"
# Amplitude rejects a user_id / device_id shorter than this (unless options.min_id_length says otherwise).
MIN_ID_LENGTH = 5

# Canonical properties promoted to Amplitude's top-level event fields: flat name -> Amplitude field.
_TOP_LEVEL_FIELDS: Mapping[str, str] = {
    "country": "country",
    "region": "region",
    "city": "city",
    "os_family": "os_name",
}
# Per-event index lists of a 400 answer ({field: [index, ...]}), with how each reads in a delivery record.
_REJECTION_LISTS = (
    ("events_with_invalid_fields", "invalid `{field}`"),
    ("events_with_missing_fields", "missing `{field}`"),
    ("events_with_invalid_id_lengths", f"`{{field}}` shorter than Amplitude's minimum of {MIN_ID_LENGTH} characters"),
)
_ID_FIELDS = ("user_id", "device_id")


class AmplitudeCredentials(base.Credentials):
    api_key: base.SecretStr
    region: Literal["us", "eu"] = "us"


class Amplitude(base.Provider):
    destination_type = "amplitude"
    action_types = frozenset({"send_event"})
    credentials_model = AmplitudeCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[MappingDoc] = (
        ("(request)", 'POST {host}/2/httpapi {"api_key": …, "events": [...]}; us: api2.amplitude.com, eu: api.eu…'),
        ("event_type", EVENT_NAME_DOC),
        ("device_id", IDENTITY_DOC),
        ("time", "`occurred_at` in milliseconds since the epoch (integer)"),
        ("insert_id", "event `id` (Amplitude ignores a repeated insert_id for 7 days: retries are safe)"),
        *((field, f"`context.{name}` when present") for name, field in _TOP_LEVEL_FIELDS.items()),
        *(row for row in property_doc("event_properties.") if row[0].rsplit(".", 1)[1] not in _TOP_LEVEL_FIELDS),
        ("revenue, price", "sale: `conversion.value`; refund/cancellation/reversal: minus `conversion.value`"),
        ("quantity, revenueType", "1 and the outcome (sale, refund, cancellation, reversal) when revenue is set"),
        ("(privacy)", "strict mode: no region, no city; never IP or user agent (no `ip` field is sent)"),
        ("(not sent)", "conversion.email, conversion.phone: add them with an `include` override"),
        (
            "(refused)",
            "no event_type, no device_id/user_id of at least 5 characters, or a user_id/device_id shorter than 5 "
            "characters after mapping: skipped alone, with the reason (Amplitude would reject the whole request)",
        ),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        properties = canonical_properties(event)
        payload: dict[str, Any] = {
            "event_type": human_event_name(event),
            "device_id": anonymous_id(event),
            "time": epoch_millis(event),
            "insert_id": str(event["id"]),
        }
        for name, field in _TOP_LEVEL_FIELDS.items():
            if name in properties:
                payload[field] = properties.pop(name)
        payload["event_properties"] = properties
        revenue = signed_revenue(event)
        if revenue is not None:
            outcome = str(event["type"]).removeprefix("conversion.")
            payload.update(revenue=revenue, price=revenue, quantity=1, revenueType=outcome)
        return payload

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        api_key = str(credentials["api_key"])
        built, accepted = screened(items, _refusal)
        built.requests += json_posts(
            ENDPOINTS[credentials.get("region") or "us"],
            [(position, item.payload) for position, item in accepted],
            lambda events: {"api_key": api_key, "events": events},
            max_count=MAX_EVENTS_PER_REQUEST,
            max_bytes=MAX_BODY_BYTES,
            secrets=(api_key,),
        )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        if response.status == 400:
            return _bad_request(request, response)
        if response.status == 429:
            return _throttled(request, response)
        if response.status == 413:
            return too_large_outcomes(request, "Amplitude's 1 MB request limit")
        return dict.fromkeys(request.items, status_outcome("Amplitude", request, response))


def _refusal(payload: Mapping[str, Any]) -> Outcome | None:
    """Why Amplitude would reject this event, or None when it is fine to send."""
    if not payload.get("event_type"):
        return Outcome.skipped("missing_event_name", "the mapped event has no event_type; Amplitude requires one")
    ids = {field: payload[field] for field in _ID_FIELDS if payload.get(field) is not None}
    valid = {field for field, value in ids.items() if isinstance(value, str) and len(value) >= MIN_ID_LENGTH}
    if not valid:
        return Outcome.skipped(
            "missing_identifier",
            f"the mapped event has no device_id or user_id of at least {MIN_ID_LENGTH} characters",
        )
    short = [field for field in _ID_FIELDS if field in ids and field not in valid]
    if short:
        # One short id makes Amplitude reject the whole request (events_with_invalid_id_lengths).
        return Outcome.skipped(
            "invalid_identifier",
            f"the mapped event's {' and '.join(short)} is not a string of at least {MIN_ID_LENGTH} characters; "
            "Amplitude would reject it and every event sent with it",
        )
    return None


def _index_lists(body: Mapping[str, Any], key: str) -> dict[str, list[int]]:
    """`{"field": [index, ...]}` of a 400 answer, tolerating odd shapes."""
    lists = typed(body, key, dict) or {}
    return {field: typed_entries(lists, field, int) for field in lists if typed(lists, field, list) is not None}


def _indices(body: Mapping[str, Any], key: str) -> set[int]:
    return set(typed_entries(body, key, int))


def _error(request: OutboundRequest, body: Mapping[str, Any], default: str) -> str:
    """Amplitude's `error` text, redacted and capped like every provider message."""
    return provider_message(typed(body, "error", str), request) or default


def _bad_request(request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
    body = json_object(response.body)
    error = _error(request, body, "Bad request")
    rejected: dict[int, str] = {}
    for key, label in _REJECTION_LISTS:
        for field, indices in _index_lists(body, key).items():
            named = label.format(field=provider_message(field, request) or "")  # a field name is answer text too
            for index in indices:
                rejected.setdefault(index, f"{error}: {named}")
    silenced = f"{error}: the device is silenced by Amplitude"
    for index in _indices(body, "silenced_events") | _silenced_device_events(request, body):
        rejected.setdefault(index, silenced)
    throttled = _indices(body, "throttled_events")
    if body.get("missing_field") or (typed(body, "error", str) or "").startswith(INVALID_API_KEY_ERROR):
        # Nothing in this request can succeed as it is (the official SDKs give up on these two alone).
        failure = Outcome.permanent("http_400", f"Amplitude {error_excerpt(request, response)}")
        return dict.fromkeys(request.items, failure)
    if not (rejected or throttled):
        # Amplitude's answer naming no event is retried; a body that is not Amplitude's JSON says only "400" (§8.1).
        if not body:
            return dict.fromkeys(request.items, status_outcome("Amplitude", request, response))
        return dict.fromkeys(request.items, Outcome.retry("http_400", f"Amplitude {error_excerpt(request, response)}"))
    outcomes: dict[int, Outcome] = {}
    for index, position in enumerate(request.items):
        if index in rejected:
            outcomes[position] = Outcome.permanent("amplitude_invalid_event", rejected[index])
        elif index in throttled:
            outcomes[position] = Outcome.throttle("amplitude_throttled", error, THROTTLE_PAUSE_SECONDS)
        else:
            # "When a 400 response lists rejected events, remove those events and resend the rest" (batching guide):
            # at once, each resend an attempt (design §8.1).
            outcomes[position] = Outcome.retry(
                "amplitude_batch_rejected", "Amplitude rejected the batch for other events in it; resent without them"
            ).refused_together()
    return outcomes


def _silenced_device_events(request: OutboundRequest, body: Mapping[str, Any]) -> set[int]:
    """Indices of the request's events whose device_id Amplitude lists in `silenced_devices`."""
    silenced = set(typed_entries(body, "silenced_devices", str))
    if not silenced:
        return set()
    return {index for index, event in enumerate(_sent_events(request)) if str(event.get("device_id")) in silenced}


def _sent_events(request: OutboundRequest) -> list[dict[str, Any]]:
    """The events of the request body, in order (an odd entry reads as an empty event)."""
    events = json_object(request.body).get("events")
    return [event if isinstance(event, dict) else {} for event in events] if isinstance(events, list) else []


def _throttled(request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
    body = json_object(response.body)
    error = _error(request, body, "Too many requests")
    header_wait = base.retry_after_seconds(response)
    pause = max(header_wait or 0.0, THROTTLE_PAUSE_SECONDS)
    throttled = _indices(body, "throttled_events")
    over_quota = {
        identity
        for key in ("exceeded_daily_quota_users", "exceeded_daily_quota_devices")
        for identity in typed(body, key, dict) or {}
    }
    events = _sent_events(request)
    outcomes: dict[int, Outcome] = {}
    for index, position in enumerate(request.items):
        event = events[index] if index < len(events) else {}
        if over_quota & {str(event.get("user_id")), str(event.get("device_id"))}:
            outcomes[position] = Outcome.permanent(
                "amplitude_daily_quota_exceeded", f"{error}: the user or device is over Amplitude's daily event quota"
            )
        elif not throttled or index in throttled:
            outcomes[position] = Outcome.throttle("http_429", error, pause)
        else:
            outcomes[position] = Outcome.retry(
                "amplitude_batch_rejected", "Amplitude rejected the batch for other events in it", header_wait
            )
    return outcomes


PROVIDER = Amplitude()
