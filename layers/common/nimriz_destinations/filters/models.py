"""The `event_filter` schema: include/exclude lists and conditions, validated at save time."""

import contextvars
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any, Self

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

from ..event_fields import CANONICAL_EVENT_TYPES, TOUCH_TYPES, require_field
from .operators import MAX_LIST_ITEMS, Operator, check_operator, check_value

MAX_CONDITIONS = 50
MAX_GROUP_DEPTH = 3

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
    # Built at first use, not at import: most functions that import the schema never validate a filter.
    model_config = ConfigDict(extra="forbid", defer_build=True)


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
LIST_RULE_PATHS = {
    "event_types": "type",
    "touch_types": "touch_type",
    "domain_ids": "link.domain_id",
    "tag_ids": "link.tag_ids",
    "space_ids": "link.space_id",
    "countries": "context.country",
}

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
            check_operator(info.data["field"], op)
        return op

    @field_validator("value")
    @classmethod
    def _value_fits_operator(cls, value: JsonValue, info: ValidationInfo) -> JsonValue:
        if "field" in info.data and "operator" in info.data:
            check_value(info.data["field"], info.data["operator"], value)
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


ConditionItem = Annotated[Condition | AnyGroup, WrapValidator(_validate_condition_item)]  # AnyGroup's items


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
