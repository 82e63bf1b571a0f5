"""The compiled filter agrees with a deliberately plain reference evaluator on generated events and filters."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nimriz_destinations.event_fields import EVENT_TYPES, TOUCH_TYPES
from nimriz_destinations.filters import EventFilter, FilterVerdict, compile_filter

# Small value pools so that generated filters and events often agree and often differ.
COUNTRIES = ["US", "FR", "DE"]
DOMAINS = ["dom_1", "dom_2"]
SPACES = ["space_1", "space_2"]
TAGS = ["tag_1", "tag_2", "tag_3"]
CAMPAIGNS = ["spring_sale", "winter", "", "SALE_2026", "x" * 1030 + "sale"]
AMOUNTS = [-1, 0, 1.5, 49.9, 100]
TIMES = ["2026-03-30T12:00:00.000Z", "2026-03-30T12:00:00.001Z", "2026-03-31T00:00:00.000Z"]
PATTERNS = [r"^spring", r"sale$", r"(?i)sale", r"_\d{4}", r"^$", r"^x+sale$"]
OFFSET_TIMES = ["2026-03-30T14:00:00+02:00", "2026-03-30T12:00:00.001Z", "2026-03-30T19:00:00-05:00"]
WRONG_TYPES = [7, True, ["US"], {"a": 1}]

RULE_PATHS = {
    "event_types": "type",
    "touch_types": "touch_type",
    "domain_ids": "link.domain_id",
    "tag_ids": "link.tag_ids",
    "space_ids": "link.space_id",
    "countries": "context.country",
}
RULE_VALUES = {
    "event_types": EVENT_TYPES,
    "touch_types": TOUCH_TYPES,
    "domain_ids": DOMAINS,
    "tag_ids": TAGS,
    "space_ids": SPACES,
    "countries": COUNTRIES,
}


# -- events ----------------------------------------------------------------------------------------------------


MISSING: Any = object()


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value; sometimes null, a value of the wrong type, or MISSING (no key at all)."""
    odd = st.sampled_from([None, MISSING, *WRONG_TYPES])
    return st.sampled_from([True] * 4 + [False]).flatmap(lambda usual: values if usual else odd)


def put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not MISSING:
        target[key] = value


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"id": "evt_1"}
    put(event, "type", draw(maybe(st.sampled_from(EVENT_TYPES))))
    put(event, "touch_type", draw(maybe(st.sampled_from(TOUCH_TYPES))))
    put(event, "bot_flag", draw(maybe(st.booleans())))
    put(event, "occurred_at", draw(maybe(st.sampled_from(TIMES))))
    link: dict[str, Any] = {}
    put(link, "domain_id", draw(maybe(st.sampled_from(DOMAINS))))
    put(link, "space_id", draw(maybe(st.sampled_from(SPACES))))
    put(link, "tag_ids", draw(maybe(st.lists(st.sampled_from(TAGS), max_size=3))))
    put(event, "link", draw(st.sampled_from([link, link, link, link, None, "not an object"])))
    context: dict[str, Any] = {}
    put(context, "country", draw(maybe(st.sampled_from(COUNTRIES))))
    put(event, "context", context)
    utm: dict[str, Any] = {}
    put(utm, "campaign", draw(maybe(st.sampled_from(CAMPAIGNS))))
    put(event, "utm", utm)
    conversion: dict[str, Any] = {}
    put(conversion, "value", draw(maybe(st.sampled_from(AMOUNTS))))
    put(event, "conversion", conversion)
    return event


# -- filters ---------------------------------------------------------------------------------------------------


FIELD_KINDS = {
    "type": "string",
    "context.country": "string",
    "utm.campaign": "string",
    "conversion.value": "number",
    "bot_flag": "boolean",
    "link.tag_ids": "list",
    "occurred_at": "timestamp",
}
OPERATORS_BY_KIND = {
    "string": ["eq", "neq", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with", "matches"],
    "number": ["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte"],
    "boolean": ["eq", "neq"],
    "list": ["contains", "not_contains"],
    "timestamp": ["gt", "gte", "lt", "lte"],
}
# Condition strings are at most 1000 characters long; events may hold longer ones.
TARGETS: dict[str, list[Any]] = {
    "type": list(EVENT_TYPES),
    "context.country": COUNTRIES,
    "utm.campaign": [campaign[:1000] for campaign in CAMPAIGNS],
    "conversion.value": AMOUNTS,
    "bot_flag": [True, False],
    "link.tag_ids": TAGS,
    "occurred_at": OFFSET_TIMES,
}


@st.composite
def leaf_conditions(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(sorted(FIELD_KINDS)))
    kind = FIELD_KINDS[field]
    op = draw(st.sampled_from([*OPERATORS_BY_KIND[kind], "exists", "not_exists"]))
    if op in ("exists", "not_exists"):
        return {"field": field, "operator": op}
    target = st.sampled_from(TARGETS[field])
    value: Any
    if op == "matches":
        value = draw(st.sampled_from(PATTERNS))
    elif op in ("in", "not_in"):
        value = draw(st.lists(target, min_size=1, max_size=3))
    elif kind == "string" and op != "eq" and op != "neq":
        # Pieces of real values, so that substring operators hold about as often as not.
        whole = draw(target)
        value = draw(st.sampled_from([whole, whole[:4], whole[-4:], "sale"]))
    else:
        value = draw(target)
    return {"field": field, "operator": op, "value": value}


condition_items = st.recursive(
    leaf_conditions(),
    lambda inner: st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
    max_leaves=6,
)


def rule_list(values: Sequence[str]) -> st.SearchStrategy[list[str]]:
    # Mostly empty: with every list set, include rules would reject nearly every event before the rest is reached.
    listed = st.lists(st.sampled_from(values), min_size=1, max_size=len(values))
    return st.sampled_from([False] * 5 + [True]).flatmap(lambda used: listed if used else st.just([]))


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    include = {key: draw(rule_list(values)) for key, values in RULE_VALUES.items()}
    exclude: dict[str, Any] = {
        key: draw(rule_list(values)) for key, values in RULE_VALUES.items() if key != "space_ids"
    }
    exclude["bot_traffic"] = draw(st.booleans())
    return {"include": include, "exclude": exclude, "conditions": draw(st.lists(condition_items, max_size=3))}


# -- the reference -----------------------------------------------------------------------------------------------


def lookup(event: dict[str, Any], path: str) -> Any:
    node: Any = event
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return MISSING if node is None else node


def has_kind(value: Any, kind: str) -> bool:
    if kind in ("string", "timestamp"):
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, list)


def reference_condition(condition: dict[str, Any], event: dict[str, Any]) -> bool:
    if "any" in condition:
        return any(reference_condition(item, event) for item in condition["any"])
    field, op = condition["field"], condition["operator"]
    target: Any = condition.get("value")
    value = lookup(event, field)
    if op == "exists":
        return value is not MISSING
    if op == "not_exists":
        return value is MISSING
    if value is MISSING or not has_kind(value, FIELD_KINDS[field]):
        return False
    if FIELD_KINDS[field] == "timestamp":
        value, target = datetime.fromisoformat(value), datetime.fromisoformat(target)
    if op == "eq":
        return bool(value == target)
    if op == "neq":
        return bool(value != target)
    if op == "in":
        return value in target
    if op == "not_in":
        return value not in target
    if op == "contains":
        return target in value
    if op == "not_contains":
        return target not in value
    if op == "starts_with":
        return bool(value.startswith(target))
    if op == "ends_with":
        return bool(value.endswith(target))
    if op == "matches":
        return re.search(target, value[:1024]) is not None
    return bool({"gt": value > target, "gte": value >= target, "lt": value < target, "lte": value <= target}[op])


def reference_verdict(filter_data: dict[str, Any], event: dict[str, Any]) -> FilterVerdict:
    for key, path in RULE_PATHS.items():
        listed = filter_data["include"][key]
        if listed and not is_listed(lookup(event, path), listed, key):
            return FilterVerdict(passed=False, rejected_by=f"include.{key}")
    for key, path in RULE_PATHS.items():
        listed = filter_data["exclude"].get(key)
        if listed and is_listed(lookup(event, path), listed, key):
            return FilterVerdict(passed=False, rejected_by=f"exclude.{key}")
    if filter_data["exclude"]["bot_traffic"] and event.get("bot_flag") is True:
        return FilterVerdict(passed=False, rejected_by="exclude.bot_traffic")
    for index, condition in enumerate(filter_data["conditions"]):
        if not reference_condition(condition, event):
            return FilterVerdict(passed=False, rejected_by=f"conditions[{index}]")
    return FilterVerdict(passed=True, rejected_by=None)


def is_listed(value: Any, listed: list[str], key: str) -> bool:
    if key == "tag_ids":
        return isinstance(value, list) and any(tag in listed for tag in value)
    return isinstance(value, str) and value in listed


# -- properties ------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(filter_data=filters(), event=events())
def test_compiled_filter_agrees_with_the_reference(filter_data: dict[str, Any], event: dict[str, Any]) -> None:
    untouched = copy.deepcopy(event)
    verdict = compile_filter(EventFilter.model_validate(filter_data)).evaluate(event)
    assert verdict == reference_verdict(filter_data, event)
    assert event == untouched


@settings(max_examples=300, deadline=None)
@given(condition=condition_items, event=events())
def test_each_compiled_condition_agrees_with_the_reference(condition: dict[str, Any], event: dict[str, Any]) -> None:
    verdict = compile_filter(EventFilter.model_validate({"conditions": [condition]})).evaluate(event)
    assert verdict.passed is reference_condition(condition, event)


@settings(max_examples=100, deadline=None)
@given(field=st.sampled_from(sorted(FIELD_KINDS)), event=events())
def test_not_exists_is_the_exact_negation_of_exists(field: str, event: dict[str, Any]) -> None:
    exists = compile_filter(EventFilter.model_validate({"conditions": [{"field": field, "operator": "exists"}]}))
    absent = compile_filter(EventFilter.model_validate({"conditions": [{"field": field, "operator": "not_exists"}]}))
    assert exists.evaluate(event).passed is not absent.evaluate(event).passed
