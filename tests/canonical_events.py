"""Hypothesis strategies for canonical events, generated from `schemas/canonical_event_v1.json` (design §4).

hypothesis-jsonschema would be the general tool, but its object generation calls a Hypothesis internal
(`many.more()`) that the pinned Hypothesis no longer has. The canonical schema uses few keywords, so they are
walked here: `type`, `const`, `enum`, `pattern`, `minLength`, `minimum`, `properties`, `required`,
`additionalProperties`, `items`, false subschemas, and the top level's `allOf` of `if`/`then` rules.

Timestamps (`TIMESTAMP_PATHS`) are drawn from `timestamps()` instead: the schema shapes them as strings (at most
a pattern), and the strategy favours what such a shape lets through but the calendar does not. Workspace and
organization ids (`routing_ids()`) are mostly platform ids, which the code checks beyond the schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft7Validator

from nimriz_destinations.canonical_event import SCHEMA_PATH
from nimriz_destinations.event_fields import TIMESTAMP_PATHS
from nimriz_destinations.ids import PLATFORM_ID_PATTERN

SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
ROUTING_IDS = ("workspace_id", "organization_id")

Schema = Mapping[str, Any] | bool
_JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
# Unknown fields (forward compatibility, design §4): any JSON value.
_ANY_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner))


def _offsets() -> st.SearchStrategy[str]:
    signed = st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59))
    return st.just("Z") | signed


def timestamps(*, utc_milliseconds: bool) -> st.SearchStrategy[str]:
    """RFC 3339-shaped date-times, many of them impossible: the 29th to 31st of every month, second 60, years
    0000 to 9999 with the ends of the accepted range (1971–9999) close by; `utc_milliseconds` keeps to
    `occurred_at`'s shape (milliseconds, `Z`), otherwise any offset and fraction."""
    years = st.sampled_from([0, 1, 1969, 1970, 1971, 2028, 9999]) | st.integers(1971, 9999)
    days = st.integers(28, 31) | st.integers(1, 31)
    seconds = st.sampled_from([59, 60]) | st.integers(0, 60)
    date_time = st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format,
        years, st.integers(1, 12), days, st.integers(0, 23), st.integers(0, 59), seconds,
    )  # fmt: skip
    if utc_milliseconds:
        return st.builds("{}.{:03d}Z".format, date_time, st.integers(0, 999))
    fraction = st.just("") | st.integers(0, 10**9).map(lambda digits: f".{digits}")
    return st.builds("{}{}{}".format, date_time, fraction, _offsets())


def routing_ids() -> st.SearchStrategy[str]:
    """Workspace and organization ids: mostly platform ids (so most events get past them to be mapped and built),
    sometimes any text the schema lets through, an over-long id among it."""
    platform = st.sampled_from(["ws_dev", "0f8c1a9e-52d4-4f0b-9a6e-3f2b1c4d5e6a"]) | st.from_regex(
        PLATFORM_ID_PATTERN, fullmatch=True
    )
    other = st.text(min_size=1) | st.just("w" * 2048)
    return st.integers(0, 9).flatmap(lambda draw: other if draw == 0 else platform)  # 1 in 10 any text


def _types(schema: Mapping[str, Any]) -> tuple[str, ...]:
    declared = schema.get("type", _JSON_TYPES)
    return (declared,) if isinstance(declared, str) else tuple(declared)


def _of_type(value: Any, json_type: str) -> bool:
    if json_type == "null":
        return value is None
    if json_type in ("integer", "number"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return Draft7Validator.TYPE_CHECKER.is_type(value, json_type)


def values(schema: Schema, path: str = "") -> st.SearchStrategy[Any]:
    """Values `schema` admits (for the keywords the canonical schema uses); `path` is where they go in an event."""
    if schema is False:
        return st.nothing()
    if schema is True:
        return _ANY_JSON
    if path in TIMESTAMP_PATHS:
        as_string = timestamps(utc_milliseconds="pattern" in schema)
        return st.none() | as_string if "null" in _types(schema) else as_string
    if path in ROUTING_IDS:
        return routing_ids()
    if "const" in schema:
        return st.just(schema["const"])
    types = _types(schema)
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if any(_of_type(v, t) for t in types)])
    return st.one_of([_typed(schema, json_type, path) for json_type in types])


def _typed(schema: Mapping[str, Any], json_type: str, path: str) -> st.SearchStrategy[Any]:
    if json_type == "null":
        return st.none()
    if json_type == "boolean":
        return st.booleans()
    if json_type == "integer":
        return st.integers(min_value=schema.get("minimum"))
    if json_type == "number":
        return st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    if json_type == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0))
    if json_type == "array":
        return st.lists(values(schema.get("items", True)), max_size=4)
    return _objects(schema, path)


def _objects(schema: Mapping[str, Any], path: str) -> st.SearchStrategy[dict[str, Any]]:
    properties: Mapping[str, Schema] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    named = {key: values(rule, f"{path}.{key}" if path else key) for key, rule in properties.items()}
    known = st.fixed_dictionaries(
        {key: strategy for key, strategy in named.items() if key in required},
        optional={key: strategy for key, strategy in named.items() if key not in required and properties[key]},
    )
    if schema.get("additionalProperties", True) is False:
        return known
    unknown = st.dictionaries(st.text(min_size=1).filter(lambda key: key not in properties), _ANY_JSON, max_size=2)
    return st.builds(lambda extra, own: extra | own, unknown, known)


def _narrowed(base: Schema, extra: Schema) -> Schema:
    """`base` with `extra`'s constraints added (the keywords the schema's `then` clauses use)."""
    if base is False or extra is False:
        return False
    if base is True or extra is True:
        return extra if base is True else base
    merged = {**base, **{k: v for k, v in extra.items() if k not in ("type", "properties", "required")}}
    if "type" in extra:
        merged["type"] = [t for t in _types(base) if t in _types(extra)]
    merged["required"] = sorted({*base.get("required", ()), *extra.get("required", ())})
    base_properties, extra_properties = base.get("properties", {}), extra.get("properties", {})
    merged["properties"] = {
        key: _narrowed(base_properties.get(key, True), extra_properties.get(key, True))
        for key in {*base_properties, *extra_properties}
    }
    return merged


@st.composite
def canonical_events(draw: st.DrawFn) -> dict[str, Any]:
    """Events the schema accepts: drawn from its properties, then made to meet every `if`/`then` rule that
    applies (each key a `then` constrains is drawn again from the narrowed schema)."""
    event: dict[str, Any] = draw(_objects(SCHEMA, ""))
    for rule in SCHEMA.get("allOf", ()):
        if not Draft7Validator(rule["if"]).is_valid(event):
            continue
        narrowed = _narrowed(SCHEMA, rule["then"])
        assert isinstance(narrowed, Mapping)
        then_keys = {*rule["then"].get("required", ()), *rule["then"].get("properties", {})}
        for key in sorted(then_keys):
            if key in event or key in narrowed["required"]:
                event[key] = draw(values(narrowed["properties"][key], key))
    return event
