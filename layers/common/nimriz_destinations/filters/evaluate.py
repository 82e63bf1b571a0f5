"""Compiled `event_filter` evaluation: plain closures over a validated EventFilter, one verdict per event."""

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..event_fields import EVENT_FIELDS, NOTICE_EVENT_TYPES, FieldType, compile_path
from .models import LIST_RULE_PATHS, AnyGroup, Condition, EventFilter, ExcludeRules, IncludeRules
from .operators import LIST_VALUED, ORDERING, TIMESTAMP_FIELDS, canonical_timestamp, matches_pattern
from .regex_safety import MATCH_INPUT_LIMIT

Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class FilterVerdict:
    passed: bool
    rejected_by: str | None = None


_PASSED = FilterVerdict(passed=True)


class CompiledFilter:
    """Evaluates one filter against many events: plain closures and frozensets, no pydantic."""

    __slots__ = ("_checks",)

    def __init__(self, checks: Iterable[tuple[str, Predicate]]) -> None:
        # The rejection verdicts are built once: evaluate() allocates nothing.
        self._checks = tuple((check, FilterVerdict(passed=False, rejected_by=rule)) for rule, check in checks)

    def evaluate(self, event: Mapping[str, Any]) -> FilterVerdict:
        for check, rejection in self._checks:
            if not check(event):
                return rejection
        return _PASSED


def compile_filter(event_filter: EventFilter) -> CompiledFilter:
    return CompiledFilter(_checks(event_filter))


def _checks(event_filter: EventFilter) -> Iterator[tuple[str, Predicate]]:
    for name in IncludeRules.model_fields:
        allowed = frozenset(getattr(event_filter.include, name))
        if allowed:
            yield f"include.{name}", _list_rule(LIST_RULE_PATHS[name], allowed, wanted=True)
        elif name == "event_types":  # operational notices are opt-in: only an action that lists them gets them
            yield "include.event_types", _list_rule("type", _NOTICE_TYPES, wanted=False)
    for name in ExcludeRules.model_fields:
        if name == "bot_traffic":
            continue
        denied = frozenset(getattr(event_filter.exclude, name))
        if denied:
            yield f"exclude.{name}", _list_rule(LIST_RULE_PATHS[name], denied, wanted=False)
    if event_filter.exclude.bot_traffic:
        yield "exclude.bot_traffic", _is_not_bot
    for index, item in enumerate(event_filter.conditions):
        yield f"conditions[{index}]", _compile_item(item)


_NOTICE_TYPES = frozenset(NOTICE_EVENT_TYPES)


def _is_not_bot(event: Mapping[str, Any]) -> bool:
    return event.get("bot_flag") is not True


def _list_rule(path: str, values: frozenset[str], *, wanted: bool) -> Predicate:
    """include (wanted) passes when the event's value is listed; exclude passes when it is not."""
    get = compile_path(path)
    if EVENT_FIELDS[path] is FieldType.STRING_LIST:

        def check_tags(event: Mapping[str, Any]) -> bool:
            tags = get(event)
            return (type(tags) is list and _shares_an_item(tags, values)) is wanted

        return check_tags

    def check_value(event: Mapping[str, Any]) -> bool:
        value = get(event)
        return (type(value) is str and value in values) is wanted

    return check_value


def _shares_an_item(items: list[Any], values: frozenset[Any]) -> bool:
    try:
        return not values.isdisjoint(items)
    except TypeError:  # an unhashable item in a malformed event: fall back to comparing one by one
        return any(type(item) is str and item in values for item in items)


def _compile_item(item: Condition | AnyGroup) -> Predicate:
    if isinstance(item, Condition):
        return _compile_condition(item)
    alternatives = tuple(_compile_item(inner) for inner in item.any)

    def any_holds(event: Mapping[str, Any]) -> bool:
        return any(alternative(event) for alternative in alternatives)

    return any_holds


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


def _is_list(value: Any) -> bool:
    return type(value) is list


_HAS_FIELD_TYPE: dict[FieldType, Callable[[Any], bool]] = {
    FieldType.STRING: _is_string,
    FieldType.NUMBER: _is_number,
    FieldType.BOOLEAN: _is_boolean,
    FieldType.STRING_LIST: _is_list,
}

# (event value, condition value) -> holds; called only once the event value has the field's type.
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "in": lambda value, target: value in target,
    "not_in": lambda value, target: value not in target,
    "contains": operator.contains,
    "not_contains": lambda value, target: target not in value,
    "starts_with": str.startswith,
    "ends_with": str.endswith,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _compile_condition(condition: Condition) -> Predicate:
    get = compile_path(condition.field)
    op = condition.operator
    if op == "exists":
        return lambda event: get(event) is not None
    if op == "not_exists":
        return lambda event: get(event) is None
    has_type = _HAS_FIELD_TYPE[EVENT_FIELDS[condition.field]]
    if op == "matches":
        search = matches_pattern(condition.value).search

        def matches(event: Mapping[str, Any]) -> bool:
            value = get(event)
            return has_type(value) and search(value, 0, MATCH_INPUT_LIMIT) is not None

        return matches
    target = _comparable(condition)
    compare = _COMPARISONS[op]

    def holds(event: Mapping[str, Any]) -> bool:
        value = get(event)
        return has_type(value) and compare(value, target)

    return holds


def _comparable(condition: Condition) -> Any:
    if condition.operator in LIST_VALUED:
        assert isinstance(condition.value, list)  # guaranteed by Condition validation
        return frozenset(condition.value)
    if condition.operator in ORDERING and condition.field in TIMESTAMP_FIELDS:
        return canonical_timestamp(condition.value)
    return condition.value
