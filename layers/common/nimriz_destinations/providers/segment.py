"""Twilio Segment HTTP Tracking API (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/):
`track` calls; one item → /v1/track, several → /v1/batch.

Limits (Segment docs): 32 KB per event, 500 KB per batch request, at most 2500 events per batch. An event over
32 KB is never sent (Segment would refuse the whole request with 400). Segment answers 400 only for "large payloads
and JSON errors" (HTTP API docs, "Errors"), naming no event: a batch's 400 refuses its events together, resent at once
in halves until it is one event's own (design §8.1). Auth is HTTP Basic with the write key as
the user name, so the key never appears in a body. Segment answers 200 for anything it queued, even events it
later drops, so the adapter checks what Segment would silently drop (no event name, no identity) before sending.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from ..clock import iso_from_unix
from . import base
from .analytics import canonical_properties, property_doc
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, derived
from .common import HUMAN_EVENT_NAMES, anonymous_id, chunk_by_limits, json_bytes, occurred_at_text
from .responses import error_code, error_excerpt, json_object, typed

API_BASE_URLS: Mapping[str, str] = {"us": "https://api.segment.io", "eu": "https://events.eu1.segmentapis.com"}
MAX_EVENT_BYTES = 32 * 1024  # the official SDK's MAX_MSG_SIZE (32 << 10)
MAX_BATCH_BYTES = 500_000  # "500 KB" read as the smaller 500,000 so neither reading of KB is exceeded
MAX_EVENTS_PER_REQUEST = 100  # the official SDK's default batch; Segment's hard cap is 2500
LIBRARY = {"name": "nimriz-destinations", "version": "1.0"}

# Segment's retry rules (official SDK): 408, 410, 429, 460 and every 5xx except 501 and 505 (511 only with OAuth,
# which we do not use). Everything else non-2xx is permanent.
_RETRYABLE_4XX = frozenset({408, 410, 429, 460})
_PERMANENT_5XX = frozenset({501, 505, 511})

_BATCH_OPEN, _BATCH_CLOSE = b'{"batch":[', b"]}"

# Segment's `context.campaign` (spec: common fields) from the UTM parameters.
_CAMPAIGN_SOURCES = (
    ("name", "campaign"),
    ("source", "source"),
    ("medium", "medium"),
    ("term", "term"),
    ("content", "content"),
)


class SegmentCredentials(base.Credentials):
    write_key: base.SecretStr
    region: Literal["us", "eu"] = "us"


def event_name(event: Mapping[str, Any]) -> str:
    """`Link Clicked`, `QR Scanned`, ...; a conversion is named by its configured `conversion_name` when it has one."""
    event_type = str(event["type"])
    if event_type.startswith("conversion."):
        configured = (event.get("conversion") or {}).get("conversion_name")
        if configured:
            return str(configured)
    return HUMAN_EVENT_NAMES.get(event_type, event_type)


def segment_properties(event: Mapping[str, Any]) -> dict[str, Any]:
    """The shared flattened properties (short_url, country, utm_source, ...) plus Segment's `revenue`."""
    properties = canonical_properties(event)
    if event.get("type") == "conversion.sale" and "value" in properties:
        properties["revenue"] = properties["value"]  # Segment's reserved revenue property, read by most destinations
    return properties


def _campaign(event: Mapping[str, Any]) -> dict[str, Any]:
    utm = event.get("utm") or {}
    return {name: utm[key] for name, key in _CAMPAIGN_SOURCES if utm.get(key) is not None}


class Segment(base.Provider):
    destination_type = "segment"
    action_types = frozenset({"send_event"})
    credentials_model = SegmentCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("(request)", 'POST /v1/track for one event, /v1/batch {"batch": [...]} for several; Basic auth (write key)'),
        ("(host)", "us: https://api.segment.io, eu: https://events.eu1.segmentapis.com"),
        ("type", '"track" (always set, even when a mapping removes or changes it)'),
        (
            "event",
            "Link Clicked, QR Scanned, Card Viewed, Card Link Clicked; conversions: `conversion.conversion_name` "
            "when set, else Lead, Sale, Refund, Cancellation, Reversal",
        ),
        ("anonymousId", "`visitor.visitor_hash` (standard mode), else the synthetic `visitor.click_id`"),
        ("messageId", "event `id` (Segment's dedup key; set back when a mapping removes it)"),
        ("timestamp", "event `occurred_at` (RFC 3339 UTC, milliseconds)"),
        ("sentAt", "send time of this attempt (added at send time, lets Segment correct clock skew)"),
        *property_doc("properties."),
        ("properties.revenue", "`conversion.value` for conversion.sale only"),
        ("properties (privacy)", "strict mode: no region, city; never IP or UA"),
        ("(not sent)", "visitor.* (only as anonymousId), conversion.email, conversion.phone: `include` them to send"),
        ("context.library", '{"name": "nimriz-destinations", "version": "1.0"}'),
        ("context.campaign", "name/source/medium/term/content from utm.campaign/source/medium/term/content"),
        ("(validation)", "no `event` or no anonymousId/userId after mapping, or over 32 KB: not sent, permanent"),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        context: dict[str, Any] = {"library": dict(LIBRARY)}
        campaign = _campaign(event)
        if campaign:
            context["campaign"] = campaign
        return {
            "type": "track",
            "event": event_name(event),
            "anonymousId": anonymous_id(event),
            "messageId": str(event["id"]),
            "timestamp": occurred_at_text(event),
            "properties": segment_properties(event),
            "context": context,
        }

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        write_key = str(credentials["write_key"])
        basic_token = derived(credentials, lambda: base64.b64encode(f"{write_key}:".encode()).decode("ascii"))
        base_url = API_BASE_URLS[credentials.get("region") or "us"]
        headers = {"Content-Type": "application/json", "Authorization": f"Basic {basic_token}"}
        sent_at = iso_from_unix(now)

        built = Built()
        positions: list[int] = []
        encoded: list[bytes] = []
        for position, item in enumerate(items):
            message = _track_message(item, sent_at)
            body = json_bytes(message)
            refusal = _refusal(message, len(body))
            if refusal:
                built.skipped[position] = refusal
            else:
                positions.append(position)
                encoded.append(body)

        groups = chunk_by_limits(
            # Exact batch body size: every item counts a comma, and the first item's comma (there is none) is
            # taken off the overhead, so a batch of exactly MAX_BATCH_BYTES still fits.
            [len(body) + 1 for body in encoded],
            max_count=self.max_batch_size,
            max_bytes=MAX_BATCH_BYTES,
            overhead=len(_BATCH_OPEN) + len(_BATCH_CLOSE) - 1,
        )
        for group in groups:
            if len(group) == 1:
                path, body = "/v1/track", encoded[group[0]]
            else:
                path, body = "/v1/batch", _BATCH_OPEN + b",".join(encoded[index] for index in group) + _BATCH_CLOSE
            built.requests.append(
                OutboundRequest(
                    method="POST",
                    url=base_url + path,
                    headers=headers,
                    body=body,
                    items=tuple(positions[index] for index in group),
                    # The Basic token is the key in base64: redact both forms wherever the request is recorded.
                    secrets=(write_key, basic_token),
                )
            )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        return dict.fromkeys(request.items, _segment_outcome(request, response))


def _track_message(item: DeliveryItem, sent_at: str) -> dict[str, Any]:
    # We only make track calls, and retries must stay deduplicable: `type` and `messageId` survive any mapping.
    message = {**item.payload, "type": "track", "sentAt": sent_at}
    message.setdefault("messageId", str(item.event["id"]))
    return message


def _refusal(message: Mapping[str, Any], size: int) -> Outcome | None:
    """Why Segment would refuse or silently drop this message, or None when it is fine to send."""
    if size > MAX_EVENT_BYTES:
        return Outcome.permanent(
            "event_too_large", f"the mapped event is {size} bytes; Segment accepts at most {MAX_EVENT_BYTES} per event"
        )
    if not message.get("event"):
        return Outcome.permanent("invalid_payload", "the mapped event has no `event` name; Segment would drop it")
    if not (message.get("anonymousId") or message.get("userId")):
        return Outcome.permanent(
            "invalid_payload", "the mapped event has neither `anonymousId` nor `userId`; Segment would drop it"
        )
    return None


def _segment_outcome(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered()
    if status == 429:
        return Outcome.throttle("http_429", wait=_retry_after(response))
    if status in _RETRYABLE_4XX or (status >= 500 and status not in _PERMANENT_5XX):
        return Outcome.retry(f"http_{status}", retry_after=_retry_after(response))
    refusal = Outcome.permanent(f"http_{status}", _error_message(request, response))
    return refusal.refused_together() if status == 400 else refusal


def _retry_after(response: ProviderResponse) -> float | None:
    # HTTP API Source docs, "Rate limits": on a 429 "the response header contains `Retry-After` and
    # `X-RateLimit-Reset` headers, which contains the number of seconds after which you can retry"; prefer the first.
    seconds = base.retry_after_seconds(response)
    if seconds is not None:
        return seconds
    reset = (response.header("x-ratelimit-reset") or "").strip()
    return float(reset) if reset.isascii() and reset.isdigit() else None


def _error_message(request: OutboundRequest, response: ProviderResponse) -> str:
    """Segment's error body `{"code": ..., "message": ...}` as a short message; any other body as capped text."""
    body = json_object(response.body)
    code = f" ({named})" if (named := error_code(body.get("code"), request)) else ""
    detail = f"{message}{code}" if (message := typed(body, "message", str)) else None
    return f"Segment {error_excerpt(request, response, detail)}"


PROVIDER = Segment()
