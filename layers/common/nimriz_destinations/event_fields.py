"""Canonical event v1 field catalogue (design §4): the valid dotted paths, their JSON types, and path lookup.

Filters, mappings, templates and the JSON Schema all agree on this one catalogue. Lookups follow design §4's
"nullable fields may be missing": an explicit ``null`` and an absent key mean the same thing, so every lookup
here reports a null value as *not found*.
"""

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from .codegen import EventReads, FunctionSource

API_VERSION = "2026-03-30"

LINK_EVENT_TYPES = ("link.clicked", "link.qr_scanned")
CARD_EVENT_TYPES = ("card.viewed", "card.link_clicked")
CONVERSION_OUTCOMES = ("lead", "sale", "refund", "cancellation", "reversal")
CONVERSION_EVENT_TYPES = tuple(f"conversion.{outcome}" for outcome in CONVERSION_OUTCOMES)
EVENT_TYPES = LINK_EVENT_TYPES + CARD_EVENT_TYPES + CONVERSION_EVENT_TYPES
"""What Nimriz records about links, cards and conversions (the events the edge sends)."""
# Operational notices about a destination's health, emitted by the dispatcher on state transitions; the event's
# `notice` object carries their data. An action receives them only when its include.event_types lists them.
NOTICE_EVENT_TYPES = ("destination.failing", "destination.disabled", "destination.recovered")
CANONICAL_EVENT_TYPES = EVENT_TYPES + NOTICE_EVENT_TYPES
"""Every type a canonical event on the LiveEvents queue may have."""

TOUCH_TYPES = ("short_link_click", "qr_scan")
PRIVACY_MODES = ("standard", "strict")
CONSENT_STATES = ("granted", "denied")

# Removed before mapping in strict mode, and rejected by the schema when a strict event carries them.
STRICT_PRIVACY_FIELDS = ("visitor.visitor_hash", "context.city", "context.region")
# Raw IP and full User-Agent are never present in any mode (design §4).
FORBIDDEN_PATHS = ("ip", "ip_address", "user_agent", "context.ip", "context.ip_address", "context.user_agent")
# Every path holding a timestamp: each must name a real instant (`canonical_event`). The notice's are not catalogue
# fields (no filter or mapping reads them).
_NOTICE_TIMESTAMPS = ("since", "last_success_at", "last_failure_at")
TIMESTAMP_PATHS = ("occurred_at", *(f"notice.health.{name}" for name in _NOTICE_TIMESTAMPS))


class FieldType(StrEnum):
    """JSON type of a catalogue field."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING_LIST = "string_list"


_S, _N, _B, _L = FieldType.STRING, FieldType.NUMBER, FieldType.BOOLEAN, FieldType.STRING_LIST

_TOP_LEVEL_FIELDS: dict[str, FieldType] = {
    "id": _S,
    "type": _S,
    "api_version": _S,
    "occurred_at": _S,
    "organization_id": _S,
    "workspace_id": _S,
    "touch_type": _S,
    "bot_flag": _B,
    "privacy_mode": _S,
}

_OBJECT_FIELDS: dict[str, dict[str, FieldType]] = {
    "link": {
        "url_id": _S,
        "domain_id": _S,
        "domain_name": _S,
        "short_code": _S,
        "short_url": _S,
        "destination_host": _S,
        "destination_url_capped": _S,
        "space_id": _S,
        "tag_ids": _L,
    },
    "context": {
        "country": _S,
        "region": _S,
        "city": _S,
        "colo": _S,
        "device_category": _S,
        "browser_family": _S,
        "os_family": _S,
        "referrer": _S,
        "referrer_host": _S,
        "social_source": _S,
    },
    "utm": {"source": _S, "medium": _S, "campaign": _S, "term": _S, "content": _S},
    "click_ids": {
        "gclid": _S,
        "gbraid": _S,
        "wbraid": _S,
        "fbclid": _S,
        "ttclid": _S,
        "li_fat_id": _S,
        "msclkid": _S,
    },
    "visitor": {"visitor_hash": _S, "click_id": _S},
    "conversion": {
        "outcome": _S,
        "conversion_name": _S,
        "value": _N,
        "currency": _S,
        "click_token": _S,
        "original_event_id": _S,
        "original_value": _N,  # follow-ons: the undone conversion's value before them (tells partial refunds)
        "email": _S,
        "phone": _S,
    },
    # The visitor's consent choices (Google's consent mode names), when the customer's conversion carries them.
    "consent": {"ad_user_data": _S, "ad_personalization": _S},
}

EVENT_OBJECTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: tuple(fields) for name, fields in _OBJECT_FIELDS.items()}
)
"""Object name → its sub-field names, in catalogue order."""

EVENT_FIELDS: Mapping[str, FieldType] = MappingProxyType(
    _TOP_LEVEL_FIELDS
    | {f"{name}.{key}": kind for name, fields in _OBJECT_FIELDS.items() for key, kind in fields.items()}
)
"""Every valid dotted path into a canonical event → its JSON type."""


def require_field(path: str) -> FieldType:
    """Return the type of a catalogue path; raise ValueError naming the nearest valid path otherwise."""
    kind = EVENT_FIELDS.get(path)
    if kind is not None:
        return kind
    import difflib  # only on the error path: keeps cold start lean

    close = difflib.get_close_matches(path, EVENT_FIELDS.keys(), n=1, cutoff=0.85)
    hint = f"; did you mean {close[0]!r}?" if close else "; see the canonical event v1 field list"
    raise ValueError(f"unknown canonical event field {path!r}{hint}")


PathGetter = Callable[[Mapping[str, Any]], Any]
"""Compiled lookup: returns the value at a path, or None when it is absent or null."""


def _walk(obj: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    node: Any = obj
    for key in parts:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def compile_path(path: str) -> PathGetter:
    """Pre-split lookup for hot paths; depth 1 and 2 (every catalogue path) get a specialised closure."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        (key,) = parts

        def get_top(obj: Mapping[str, Any]) -> Any:
            return obj.get(key)

        return get_top
    if len(parts) == 2:
        outer, inner = parts

        def get_nested(obj: Mapping[str, Any]) -> Any:
            node = obj.get(outer)
            return node.get(inner) if type(node) is dict or isinstance(node, Mapping) else None

        return get_nested

    def get_deep(obj: Mapping[str, Any]) -> Any:
        return _walk(obj, parts)

    return get_deep


def compile_projection(sources: Sequence[tuple[str, str]]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function returning the present (non-null) values at the `(path, name)` catalogue paths, each under its name
    (a later source wins a name), lists copied: a generated function (`codegen`), for flat payloads built on every
    delivery from events validated by fan-out or preview (design §4)."""
    source = FunctionSource("projection", "event")
    values = _PresentValues(source)
    source.add("projected = {}")
    for path, name in sources:
        values.copy(path, into="projected", name=name)
    source.add("return projected")
    projection: Callable[[Mapping[str, Any]], dict[str, Any]] = source.build()
    return projection


def compile_event_data(
    scalars: Sequence[str], objects: Mapping[str, Sequence[str]]
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A function returning the event's present (non-null) values at the top-level `scalars` and at each object's
    keys, nested as in the event (an object with none present left out), lists copied: generated as
    `compile_projection` is, for the same reasons (a payload built on every delivery, from a validated event)."""
    source = FunctionSource("event_data", "event")
    values = _PresentValues(source)
    source.add("data = {}")
    for name in scalars:
        values.copy(name, into="data", name=name)
    for name, keys in objects.items():
        source.add("present = {}")
        for key in keys:
            values.copy(f"{name}.{key}", into="present", name=key)
        source.add("if present:")
        source.add(f"data[{name!r}] = present", depth=2)
    source.add("return data")
    event_data: Callable[[Mapping[str, Any]], dict[str, Any]] = source.build()
    return event_data


class _PresentValues:
    """The statements of a generated function that copy an event's value at a catalogue path into a dict when it is
    present (non-null). Events reach them validated, and the schema allows at each catalogue path only its catalogue
    type or null: only a string list can be a container, so only those values are copied."""

    def __init__(self, source: FunctionSource) -> None:
        self._source = source
        self._reads = EventReads(source, "event")
        self._copied = source.constant(copied_value)

    def copy(self, path: str, *, into: str, name: str) -> None:
        value = self._reads.value(path)
        kept = f"{self._copied}({value})" if EVENT_FIELDS[path] is FieldType.STRING_LIST else value
        self._source.add(f"if {value} is not None:")
        self._source.add(f"{into}[{name!r}] = {kept}", depth=2)


def copied_value(value: Any) -> Any:
    """A value read from an event, safe to hand out: a list (`link.tag_ids`; the only container a valid event's
    objects hold) as a new list, anything else as it is."""
    return list(value) if isinstance(value, list) else value
