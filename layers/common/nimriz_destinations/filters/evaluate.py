"""Compiled `event_filter` evaluation: one generated function per filter (`codegen`), its checks as straight-line
statements in the order the verdict names them, one verdict per event."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..codegen import EventReads, FunctionSource
from ..event_fields import EVENT_FIELDS, NOTICE_EVENT_TYPES, FieldType
from .models import LIST_RULE_PATHS, AnyGroup, Condition, EventFilter, ExcludeRules, IncludeRules
from .operators import LIST_VALUED, ORDERING, TIMESTAMP_FIELDS, canonical_timestamp, matches_pattern
from .regex_safety import MATCH_INPUT_LIMIT


@dataclass(frozen=True, slots=True)
class FilterVerdict:
    passed: bool
    rejected_by: str | None = None


_PASSED = FilterVerdict(passed=True)


class CompiledFilter:
    """Evaluates one filter against many events: `evaluate(event)` is the generated function itself. It allocates
    nothing: the verdicts are built once, and every value the filter compares with is a prepared constant."""

    __slots__ = ("evaluate",)

    evaluate: Callable[[Mapping[str, Any]], FilterVerdict]

    def __init__(self, evaluate: Callable[[Mapping[str, Any]], FilterVerdict]) -> None:
        self.evaluate = evaluate


def compile_filter(event_filter: EventFilter) -> CompiledFilter:
    source = FunctionSource("evaluate", "event")
    reads = EventReads(source, "event")
    for rule, rejected in _checks(event_filter, _Expressions(source, reads)):
        source.add(f"if {rejected}:")
        source.add(f"return {source.constant(FilterVerdict(passed=False, rejected_by=rule))}", depth=2)
    source.add(f"return {source.constant(_PASSED)}")
    return CompiledFilter(source.build())


def _checks(event_filter: EventFilter, expressions: "_Expressions") -> Iterator[tuple[str, str]]:
    """(rule, the expression that holds when the rule rejects the event), in the order the rules are checked."""
    for name in IncludeRules.model_fields:
        allowed = frozenset(getattr(event_filter.include, name))
        if allowed:
            yield f"include.{name}", f"not {expressions.listed(LIST_RULE_PATHS[name], allowed)}"
        elif name == "event_types":  # operational notices are opt-in: only an action that lists them gets them
            yield "include.event_types", expressions.listed("type", _NOTICE_TYPES)
    for name in ExcludeRules.model_fields:
        if name == "bot_traffic":
            continue
        denied = frozenset(getattr(event_filter.exclude, name))
        if denied:
            yield f"exclude.{name}", expressions.listed(LIST_RULE_PATHS[name], denied)
    if event_filter.exclude.bot_traffic:
        yield "exclude.bot_traffic", f"{expressions.reads.value('bot_flag')} is True"
    for index, item in enumerate(event_filter.conditions):
        yield f"conditions[{index}]", f"not {expressions.item(item)}"


_NOTICE_TYPES = frozenset(NOTICE_EVENT_TYPES)


def _shares_an_item(items: list[Any], values: frozenset[Any]) -> bool:
    try:
        return not values.isdisjoint(items)
    except TypeError:  # an unhashable item in a malformed event: fall back to comparing one by one
        return any(type(item) is str and item in values for item in items)


# Whether the event's value `{v}` has the field's type: a value of another type (a malformed event) fails every
# operator but `not_exists`, as a missing one does.
_HAS_FIELD_TYPE: dict[FieldType, str] = {
    FieldType.STRING: "type({v}) is str",
    FieldType.NUMBER: "(type({v}) is int or type({v}) is float)",
    FieldType.BOOLEAN: "type({v}) is bool",
    FieldType.STRING_LIST: "type({v}) is list",
}

# The event's value `{v}` against the condition's prepared value `{c}`, once `{v}` has the field's type.
_COMPARISONS: dict[str, str] = {
    "eq": "{v} == {c}",
    "neq": "{v} != {c}",
    "in": "{v} in {c}",
    "not_in": "{v} not in {c}",
    "contains": "{c} in {v}",
    "not_contains": "{c} not in {v}",
    "starts_with": "{v}.startswith({c})",
    "ends_with": "{v}.endswith({c})",
    "gt": "{v} > {c}",
    "gte": "{v} >= {c}",
    "lt": "{v} < {c}",
    "lte": "{v} <= {c}",
    # `{c}` is the pattern's bound `search`: over the first MATCH_INPUT_LIMIT characters only.
    "matches": "{c}({v}, 0, " + repr(MATCH_INPUT_LIMIT) + ") is not None",
}


class _Expressions:
    """Python expressions for a filter's rules and conditions, over locals its EventReads fill."""

    def __init__(self, source: FunctionSource, reads: EventReads) -> None:
        self.source = source
        self.reads = reads

    def listed(self, path: str, values: frozenset[str]) -> str:
        """Whether the event's value at `path` is one of `values` (a list field: any of its items is)."""
        value, listed = self.reads.value(path), self.source.constant(values)
        if EVENT_FIELDS[path] is FieldType.STRING_LIST:
            return f"(type({value}) is list and {self.source.constant(_shares_an_item)}({value}, {listed}))"
        return f"(type({value}) is str and {value} in {listed})"

    def item(self, item: Condition | AnyGroup) -> str:
        if isinstance(item, AnyGroup):
            return "(" + " or ".join(self.item(inner) for inner in item.any) + ")"
        value = self.reads.value(item.field)
        if item.operator == "exists":
            return f"({value} is not None)"
        if item.operator == "not_exists":
            return f"({value} is None)"
        has_type = _HAS_FIELD_TYPE[EVENT_FIELDS[item.field]].format(v=value)
        compared = self.source.constant(_comparable(item))
        return f"({has_type} and {_COMPARISONS[item.operator].format(v=value, c=compared)})"


def _comparable(condition: Condition) -> Any:
    if condition.operator == "matches":
        return matches_pattern(condition.value).search
    if condition.operator in LIST_VALUED:
        assert isinstance(condition.value, list)  # guaranteed by Condition validation
        return frozenset(condition.value)
    if condition.operator in ORDERING and condition.field in TIMESTAMP_FIELDS:
        return canonical_timestamp(condition.value)
    return condition.value
