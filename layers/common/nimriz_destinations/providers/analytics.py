"""Pieces shared by the analytics (`send_event`) adapters: GA4 / GTM server-side, Amplitude, PostHog, Mixpanel.

* `canonical_properties` (`property_projection` with renames): the flat property bag Amplitude, PostHog and
  Mixpanel receive. Names follow the Segment adapter's convention (link/context/click-id fields under their own
  names, `utm_<key>`, conversion fields under their own names, `event_type`), so one canonical event shows the same
  property names in every tool.
* `signed_revenue`: a conversion's effect on revenue (a sale adds, a refund/cancellation/reversal takes away).
* `screened`: the items a provider would accept, the others skipped with why.
* `pack`: request bodies within a provider's count and byte limits.
* Dedup id derivation (`as_uuid`), customer base URLs (`base_url`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..event_fields import EVENT_OBJECTS, compile_projection
from ..ids import is_id
from ..netguard import parse_url
from .base import Built, DeliveryItem, OutboundRequest, Outcome
from .common import HUMAN_EVENT_NAMES, chunk_by_limits, json_bytes, occurred_at

MappingDoc = tuple[tuple[str, str], ...]

# Flattened canonical fields: (canonical path, property name). Not forwarded by default: `visitor.*` (it is the
# identity field of each tool) and the personal data `conversion.email` / `conversion.phone`.
_FLATTENED_OBJECTS = (("link", ""), ("context", ""), ("utm", "utm_"), ("click_ids", ""), ("conversion", ""))
_NOT_FORWARDED = frozenset({"conversion.email", "conversion.phone"})
PROPERTY_SOURCES: tuple[tuple[str, str], ...] = (
    ("id", "nimriz_event_id"),
    ("type", "event_type"),
    ("touch_type", "touch_type"),
    ("bot_flag", "bot_flag"),
    ("privacy_mode", "privacy_mode"),
    *(
        (f"{name}.{key}", prefix + key)
        for name, prefix in _FLATTENED_OBJECTS
        for key in EVENT_OBJECTS[name]
        if f"{name}.{key}" not in _NOT_FORWARDED
    ),
)

# Sign of a conversion outcome's revenue; a lead has none.
_REVENUE_SIGN: Mapping[str, int] = {"sale": 1, "refund": -1, "cancellation": -1, "reversal": -1}

# Derived ids (PostHog uuid, Mixpanel $insert_id) must never change across releases: the namespace is fixed.
# Mapping-doc text shared by the adapters that use human event names and the visitor identity.
EVENT_NAME_DOC = ", ".join(HUMAN_EVENT_NAMES.values()) + " by event type (an unknown type keeps its code)"
IDENTITY_DOC = "`visitor.visitor_hash` (standard mode), else the synthetic per-click `visitor.click_id` (strict mode)"

_DERIVED_ID_NAMESPACE = uuid.UUID("5b0e6f2a-3c1d-5e4f-8a9b-0c1d2e3f4a5b")


def human_event_name(event: Mapping[str, Any]) -> str:
    """`Link Clicked`, `QR Scanned`, ..., `Sale`; an event type unknown to this release keeps its code."""
    event_type = str(event["type"])
    return HUMAN_EVENT_NAMES.get(event_type, event_type)


def property_projection(renames: Mapping[str, str] | None = None) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function returning the present (non-null) fields of PROPERTY_SOURCES, each under its flat name or its name
    in `renames` (compiled once per adapter: it runs on every delivery)."""
    renames = renames or {}
    return compile_projection([(path, renames.get(name, name)) for path, name in PROPERTY_SOURCES])


canonical_properties = property_projection()


def property_doc(prefix: str, renames: Mapping[str, str] | None = None) -> MappingDoc:
    """Mapping-doc rows for `canonical_properties`, each field shown under `prefix`."""
    renames = renames or {}
    return tuple((f"{prefix}{renames.get(name, name)}", f"`{path}` when present") for path, name in PROPERTY_SOURCES)


def signed_revenue(event: Mapping[str, Any]) -> float | None:
    """`conversion.value` for a sale, its negative for a refund, cancellation or reversal; None otherwise."""
    sign = _REVENUE_SIGN.get(str(event.get("type", "")).removeprefix("conversion."))
    value = (event.get("conversion") or {}).get("value")
    if sign is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return sign * value


def age_seconds(event: Mapping[str, Any], now: float) -> float:
    return now - occurred_at(event).timestamp()


def derived_uuid(value: str) -> str:
    """A stable UUID (v5) standing in for an id that is not a UUID."""
    return str(uuid.uuid5(_DERIVED_ID_NAMESPACE, value))


def as_uuid(value: str) -> str:
    """`value` in canonical UUID form when it is a UUID, else its derived UUID."""
    if is_id(value):  # already canonical (every id Nimriz makes): parsing it again would give the same text
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return derived_uuid(value)


def screened(
    items: Sequence[DeliveryItem], refusal: Callable[[Mapping[str, Any]], Outcome | None]
) -> tuple[Built, list[tuple[int, DeliveryItem]]]:
    """The items whose mapped payload `refusal` lets through, with their positions; the others are already in the
    returned `Built.skipped`, each with why."""
    built = Built()
    accepted: list[tuple[int, DeliveryItem]] = []
    for position, item in enumerate(items):
        if reason := refusal(item.payload):
            built.skipped[position] = reason
        else:
            accepted.append((position, item))
    return built, accepted


def pack(
    entries: Sequence[tuple[int, Any]], wrap: Callable[[list[Any]], Any], *, max_count: int, max_bytes: int
) -> list[tuple[tuple[int, ...], bytes]]:
    """Request bodies `wrap([event, ...])` for (position, event) entries, each within max_count and max_bytes.

    Returns (positions carried, body) per request. Sizes are exact: an event adds its JSON plus one comma, and the
    envelope is `wrap([])`, whose empty list has no comma to spare (hence the -1).
    """
    sizes = [len(json_bytes(event)) + 1 for _, event in entries]
    overhead = len(json_bytes(wrap([]))) - 1
    bodies: list[tuple[tuple[int, ...], bytes]] = []
    for group in chunk_by_limits(sizes, max_count=max_count, max_bytes=max_bytes, overhead=overhead):
        events = [entries[index][1] for index in group]
        bodies.append((tuple(entries[index][0] for index in group), json_bytes(wrap(events))))
    return bodies


def json_posts(
    url: str,
    entries: Sequence[tuple[int, Any]],
    wrap: Callable[[list[Any]], Any],
    *,
    max_count: int,
    max_bytes: int,
    secrets: tuple[str, ...],
) -> list[OutboundRequest]:
    """One JSON POST per body `pack` makes: the common shape of the batch APIs that take the key in the body."""
    return [
        OutboundRequest("POST", url, {"Content-Type": "application/json"}, body, positions, secrets)
        for positions, body in pack(entries, wrap, max_count=max_count, max_bytes=max_bytes)
    ]


def base_url(value: str) -> str:
    """A customer-supplied base URL (PostHog host, GTM container): valid under the URL rule (normalised), without a
    query string, a fragment or a trailing slash.

    The SSRF guard (scheme, host, resolved address) runs separately at save and at send time.
    """
    parsed = parse_url(value)
    if parsed.query is not None or parsed.fragment is not None:
        raise ValueError("must not carry a query string or a fragment")
    return parsed.url.rstrip("/")
