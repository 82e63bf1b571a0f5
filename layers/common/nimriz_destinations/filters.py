"""Action `event_filter` (design §6): save-time validation models and a compiled evaluator.

Semantics, decided here and relied on by the fan-out:

* An event passes when every non-empty `include` list contains its value (`tag_ids`: the link has any listed
  tag), no non-empty `exclude` list contains it, `exclude.bot_traffic` does not reject it (`bot_flag: true`),
  and every condition holds (an `any` group holds when one of its items does). Checks run in that order and
  the verdict names the first rule that rejected the event (`include.event_types`, `exclude.bot_traffic`,
  `conditions[2]`, ...); a failing condition inside an `any` group is reported as its top-level item.
* Operational notices (`destination.failing`, `destination.disabled`, `destination.recovered`) are opt-in: an
  empty `include.event_types` matches every event except them, and the verdict names `include.event_types`.
* Absent and null are the same (design §4). A missing value fails every `include` list and passes every
  `exclude` list. A condition on a missing field is false for every operator except `not_exists`, including
  `neq`, `not_in` and `not_contains`: "country is not FR" does not match events without a country.
* A value of the wrong JSON type (a malformed event) behaves like a missing one: evaluation never raises.
* String comparisons are case-sensitive. `contains` on the list field `link.tag_ids` is list membership.
* `gt`/`gte`/`lt`/`lte` apply to the number field `conversion.value` and to `occurred_at`, whose condition
  value is an RFC 3339 timestamp (any offset, at most millisecond precision) compared chronologically.
* `matches` is `re.search` (unanchored unless the pattern anchors itself) over the first MATCH_INPUT_LIMIT
  characters of the value; patterns that could backtrack for long are refused at save time.
* Limits: MAX_CONDITIONS leaf conditions in all, `any` groups nested at most MAX_GROUP_DEPTH deep,
  MAX_LIST_ITEMS per list.
"""

import contextvars
import math
import operator
import re
import re._constants as sre  # the regex engine's own parser: the safety check sees exactly what will run
import re._parser as sre_parser
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .clock import iso_utc
from .event_fields import (
    CANONICAL_EVENT_TYPES,
    EVENT_FIELDS,
    NOTICE_EVENT_TYPES,
    TOUCH_TYPES,
    FieldType,
    compile_path,
    require_field,
)

MAX_CONDITIONS = 50
MAX_GROUP_DEPTH = 3
MAX_LIST_ITEMS = 500
MAX_STRING_LENGTH = 1000
MAX_PATTERN_LENGTH = 200
MATCH_INPUT_LIMIT = 1024
# Worst-case backtracking steps a pattern may take on MATCH_INPUT_LIMIT characters: a few quadratic passes
# (milliseconds). One unbounded repeat fits, or two when the pattern starts with `^`; `\w+\d+x` unanchored
# (cubic: over a second on 1024 digits) does not.
MAX_PATTERN_COST = 4 * MATCH_INPUT_LIMIT * MATCH_INPUT_LIMIT

Operator = Literal[
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "exists",
    "not_exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "matches",
]
OPERATORS: tuple[str, ...] = get_args(Operator)

_PRESENCE = frozenset({"exists", "not_exists"})
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})
_LIST_VALUED = frozenset({"in", "not_in"})
_OPERATORS_BY_TYPE: dict[FieldType, frozenset[str]] = {
    FieldType.STRING: _PRESENCE
    | {"eq", "neq", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with", "matches"},
    FieldType.NUMBER: _PRESENCE | _ORDERING | {"eq", "neq", "in", "not_in"},
    FieldType.BOOLEAN: _PRESENCE | {"eq", "neq"},
    FieldType.STRING_LIST: _PRESENCE | {"contains", "not_contains"},
}
# String fields holding canonical timestamps: ordering them as strings orders them in time.
_TIMESTAMP_FIELDS = frozenset({"occurred_at"})
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_COUNTRY = re.compile(r"[A-Z]{2}")


# -- include / exclude lists -----------------------------------------------------------------------------------


def _known_event_type(value: str) -> str:
    if value not in CANONICAL_EVENT_TYPES:
        raise ValueError(f"unknown event type {value!r}; expected one of: {', '.join(CANONICAL_EVENT_TYPES)}")
    return value


def _known_touch_type(value: str) -> str:
    if value not in TOUCH_TYPES:
        raise ValueError(f"unknown touch type {value!r}; expected one of: {', '.join(TOUCH_TYPES)}")
    return value


def _country_code(value: str) -> str:
    if not _COUNTRY.fullmatch(value):
        raise ValueError(f"{value!r} is not an ISO-3166 alpha-2 country code in upper case, e.g. 'US'")
    return value


EventTypeList = Annotated[list[Annotated[str, AfterValidator(_known_event_type)]], Field(max_length=MAX_LIST_ITEMS)]
TouchTypeList = Annotated[list[Annotated[str, AfterValidator(_known_touch_type)]], Field(max_length=MAX_LIST_ITEMS)]
CountryList = Annotated[list[Annotated[str, AfterValidator(_country_code)]], Field(max_length=MAX_LIST_ITEMS)]
IdList = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=MAX_LIST_ITEMS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncludeRules(_Strict):
    """Each non-empty list must contain the event's value."""

    event_types: EventTypeList = Field(default_factory=list)
    touch_types: TouchTypeList = Field(default_factory=list)
    domain_ids: IdList = Field(default_factory=list)
    tag_ids: IdList = Field(default_factory=list, description="Matches when the link has any of these tags.")
    space_ids: IdList = Field(default_factory=list)
    countries: CountryList = Field(default_factory=list)


class ExcludeRules(_Strict):
    """No non-empty list may contain the event's value."""

    event_types: EventTypeList = Field(default_factory=list)
    touch_types: TouchTypeList = Field(default_factory=list)
    domain_ids: IdList = Field(default_factory=list)
    tag_ids: IdList = Field(default_factory=list, description="Rejects when the link has any of these tags.")
    countries: CountryList = Field(default_factory=list)
    bot_traffic: bool = Field(default=False, description="Reject events flagged `bot_flag: true`.")


# Canonical path each include/exclude list is matched against.
_LIST_RULE_PATHS = {
    "event_types": "type",
    "touch_types": "touch_type",
    "domain_ids": "link.domain_id",
    "tag_ids": "link.tag_ids",
    "space_ids": "link.space_id",
    "countries": "context.country",
}


# -- conditions: save-time checks ------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _allowed_operators(field: str) -> frozenset[str]:
    allowed = _OPERATORS_BY_TYPE[EVENT_FIELDS[field]]
    return allowed | _ORDERING if field in _TIMESTAMP_FIELDS else allowed


def _check_operator(field: str, op: str) -> None:
    allowed = _allowed_operators(field)
    if op not in allowed:
        usable = ", ".join(name for name in OPERATORS if name in allowed)
        kind = EVENT_FIELDS[field].value.replace("_", " ")
        raise ValueError(f"operator {op!r} does not apply to the {kind} field {field!r}; use one of: {usable}")


def _check_scalar(kind: FieldType, value: Any, what: str) -> None:
    """`kind` is the field's type; list fields compare against single strings."""
    if kind in (FieldType.STRING, FieldType.STRING_LIST):
        if not isinstance(value, str):
            raise ValueError(f"{what} must be a string, not {_json_type(value)}")
        if len(value) > MAX_STRING_LENGTH:
            raise ValueError(f"{what} is longer than {MAX_STRING_LENGTH} characters")
    elif kind is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{what} must be a number, not {_json_type(value)}")
    elif not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, not {_json_type(value)}")


def _check_value(field: str, op: str, value: Any) -> None:
    if op in _PRESENCE:
        if value is not None:
            raise ValueError(f"operator {op!r} takes no value")
        return
    if value is None:
        raise ValueError(f"operator {op!r} needs a value")
    kind = EVENT_FIELDS[field]
    if op == "matches":
        _check_pattern(value)
    elif op in _ORDERING and field in _TIMESTAMP_FIELDS:
        _canonical_timestamp(value)
    elif op in _LIST_VALUED:
        if not isinstance(value, list) or not value:
            raise ValueError(f"operator {op!r} needs a non-empty list, not {_json_type(value)}")
        if len(value) > MAX_LIST_ITEMS:
            raise ValueError(f"operator {op!r} takes at most {MAX_LIST_ITEMS} values")
        for index, item in enumerate(value):
            _check_scalar(kind, item, f"value[{index}]")
    else:
        _check_scalar(kind, value, "value")


def _canonical_timestamp(value: Any) -> str:
    """An RFC 3339 timestamp (any offset, at most milliseconds) in canonical `occurred_at` form."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            "value must be an RFC 3339 timestamp with a timezone and at most millisecond precision, "
            "e.g. '2026-03-30T12:00:00.000Z'"
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date and time") from None
    return iso_utc(moment)


# -- regular expressions: refuse catastrophic backtracking -----------------------------------------------------

_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT})
_COST_CEILING = MAX_PATTERN_COST * MATCH_INPUT_LIMIT  # keeps the arithmetic small once a pattern is over


def _check_pattern(value: Any) -> re.Pattern[str]:
    """Compile a `matches` pattern, refusing ones whose worst-case backtracking is too expensive.

    Refused: backreferences and conditionals; a repeated group containing a variable repeat or an
    alternation (`(a+)+`, `(a|ab)*`: exponential); and patterns whose estimated worst case on
    MATCH_INPUT_LIMIT characters exceeds MAX_PATTERN_COST (each repeat multiplies the cost by its number
    of choices, and an unanchored search multiplies it by the number of start positions).
    """
    if not isinstance(value, str):
        raise ValueError(f"operator 'matches' needs a regular expression string, not {_json_type(value)}")
    if len(value) > MAX_PATTERN_LENGTH:
        raise ValueError(f"regular expression is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(value)
        parsed = sre_parser.parse(value)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    cost = _sequence_cost(parsed)
    if not _anchored_at_start(parsed):
        cost *= MATCH_INPUT_LIMIT
    if cost > MAX_PATTERN_COST:
        raise ValueError(
            "regular expression could backtrack for too long: use at most one unbounded repeat "
            "(*, +, {n,}), or two when the pattern starts with ^, and no leading .*"
        )
    return compiled


def _children(op: Any, av: Any) -> Sequence[Any]:
    if op in _REPEATS:
        return (av[2],)
    if op is sre.BRANCH:
        return av[1]
    if op is sre.SUBPATTERN:
        return (av[3],)
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return (av[1],)
    if op is sre.ATOMIC_GROUP:
        return (av,)
    return ()


def _has_choice(items: Any) -> bool:
    for op, av in items:
        if op is sre.BRANCH or (op in _REPEATS and av[1] > av[0]):
            return True
        if any(_has_choice(child) for child in _children(op, av)):
            return True
    return False


def _node_cost(op: Any, av: Any) -> int:
    if op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
        raise ValueError("backreferences and conditional groups are not supported in regular expressions")
    if op in _REPEATS:
        low, high, body = av
        if high > 1 and _has_choice(body):
            raise ValueError(
                "a repeated group must not contain a repeat or an alternation, e.g. (a+)+ or (a|ab)*: "
                "it can backtrack exponentially"
            )
        if op is sre.POSSESSIVE_REPEAT:  # never gives characters back
            return _sequence_cost(body)
        choices = min(high, MATCH_INPUT_LIMIT) - min(low, MATCH_INPUT_LIMIT) + 1
        return choices * _sequence_cost(body)
    if op is sre.BRANCH:
        return sum(_sequence_cost(branch) for branch in av[1])
    children = _children(op, av)
    return _sequence_cost(children[0]) if children else 1


def _sequence_cost(items: Any) -> int:
    cost = 1
    for op, av in items:
        cost = min(cost * _node_cost(op, av), _COST_CEILING)
    return cost


def _anchored_at_start(parsed: Any) -> bool:
    # re.search tries only position 0 for \A, and for ^ unless MULTILINE lets ^ match after every newline.
    if len(parsed) == 0 or parsed[0][0] is not sre.AT:
        return False
    anchor = parsed[0][1]
    multiline = parsed.state.flags & re.MULTILINE
    return anchor is sre.AT_BEGINNING_STRING or (anchor is sre.AT_BEGINNING and not multiline)


# -- conditions: models ----------------------------------------------------------------------------------------


class Condition(_Strict):
    """`{"field", "operator", "value"}`: one test on a canonical event field."""

    field: str = Field(description="Dotted path into the canonical event, e.g. `context.country`.")
    operator: Operator
    value: JsonValue = Field(
        default=None, validate_default=True, description="Omitted for exists/not_exists; a list for in/not_in."
    )

    @field_validator("field")
    @classmethod
    def _known_field(cls, field: str) -> str:
        require_field(field)
        return field

    @field_validator("operator")
    @classmethod
    def _operator_fits_field(cls, op: str, info: ValidationInfo) -> str:
        if "field" in info.data:
            _check_operator(info.data["field"], op)
        return op

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: JsonValue, info: ValidationInfo) -> JsonValue:
        if "field" in info.data and "operator" in info.data:
            _check_value(info.data["field"], info.data["operator"], value)
        return value


class AnyGroup(_Strict):
    """`{"any": [...]}`: holds when at least one item holds."""

    any: "list[ConditionItem]" = Field(min_length=1, max_length=MAX_CONDITIONS)


# How deep the item being validated sits in `any` groups: checked before recursing, so hostile nesting
# fails with a clear error instead of exhausting the stack.
_group_depth: contextvars.ContextVar[int] = contextvars.ContextVar("filter_group_depth", default=0)


def _validate_condition_item(value: Any, _handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # Dispatching here (rather than a tagged union) keeps union tags out of error locations:
    # a bad value reports `conditions.0.value`, not `conditions.0.Condition.value`.
    if isinstance(value, Condition | AnyGroup):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "condition_item", "a condition must be an object with field/operator/value, or an `any` group"
        )
    if "any" not in value:
        return Condition.model_validate(value, context=info.context)
    depth = _group_depth.get()
    if depth >= MAX_GROUP_DEPTH:
        raise PydanticCustomError("condition_depth", f"`any` groups nest at most {MAX_GROUP_DEPTH} deep")
    token = _group_depth.set(depth + 1)
    try:
        return AnyGroup.model_validate(value, context=info.context)
    finally:
        _group_depth.reset(token)


ConditionItem = Annotated[Condition | AnyGroup, WrapValidator(_validate_condition_item)]
AnyGroup.model_rebuild()


def _leaf_locations(
    items: Sequence[Condition | AnyGroup], loc: tuple[str | int, ...]
) -> Iterator[tuple[str | int, ...]]:
    for index, item in enumerate(items):
        if isinstance(item, AnyGroup):
            yield from _leaf_locations(item.any, (*loc, index, "any"))
        else:
            yield (*loc, index)


class EventFilter(_Strict):
    """An action's `event_filter`; `{}` matches every event except operational notices."""

    include: IncludeRules = Field(default_factory=IncludeRules)
    exclude: ExcludeRules = Field(default_factory=ExcludeRules)
    conditions: list[ConditionItem] = Field(
        default_factory=list, max_length=MAX_CONDITIONS, description="All must hold; `{any: [...]}` for OR."
    )

    @model_validator(mode="after")
    def _bounded_condition_count(self) -> Self:
        for count, loc in enumerate(_leaf_locations(self.conditions, ("conditions",)), start=1):
            if count > MAX_CONDITIONS:
                error = PydanticCustomError(
                    "too_many_conditions", f"a filter holds at most {MAX_CONDITIONS} conditions"
                )
                raise ValidationError.from_exception_data(
                    type(self).__name__, [{"type": error, "loc": loc, "input": None}]
                )
        return self

    def can_match_any(self, event_types: Iterable[str]) -> bool:
        """Whether some of `event_types` gets past the event-type lists (conditions are not considered)."""
        candidates = set(event_types)
        if self.include.event_types:
            candidates &= set(self.include.event_types)
        return bool(candidates - set(self.exclude.event_types))


# -- compiled evaluation ---------------------------------------------------------------------------------------

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
            yield f"include.{name}", _list_rule(_LIST_RULE_PATHS[name], allowed, wanted=True)
        elif name == "event_types":  # operational notices are opt-in: only an action that lists them gets them
            yield "include.event_types", _list_rule("type", _NOTICE_TYPES, wanted=False)
    for name in ExcludeRules.model_fields:
        if name == "bot_traffic":
            continue
        denied = frozenset(getattr(event_filter.exclude, name))
        if denied:
            yield f"exclude.{name}", _list_rule(_LIST_RULE_PATHS[name], denied, wanted=False)
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
        search = _check_pattern(condition.value).search

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
    if condition.operator in _LIST_VALUED:
        assert isinstance(condition.value, list)  # guaranteed by Condition validation
        return frozenset(condition.value)
    if condition.operator in _ORDERING and condition.field in _TIMESTAMP_FIELDS:
        return _canonical_timestamp(condition.value)
    return condition.value
