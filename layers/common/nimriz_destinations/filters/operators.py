"""Condition operators: which apply to which field type, and the values they take (save-time checks)."""

import math
import re
from typing import Any, Literal, get_args

from ..clock import iso_utc, parse_rfc3339
from ..event_fields import EVENT_FIELDS, TIMESTAMP_PATHS, FieldType
from .regex_safety import compile_safe_pattern

MAX_LIST_ITEMS = 500
MAX_STRING_LENGTH = 1000

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

PRESENCE = frozenset({"exists", "not_exists"})
ORDERING = frozenset({"gt", "gte", "lt", "lte"})
LIST_VALUED = frozenset({"in", "not_in"})
_OPERATORS_BY_TYPE: dict[FieldType, frozenset[str]] = {
    FieldType.STRING: PRESENCE
    | {"eq", "neq", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with", "matches"},
    FieldType.NUMBER: PRESENCE | ORDERING | {"eq", "neq", "in", "not_in"},
    FieldType.BOOLEAN: PRESENCE | {"eq", "neq"},
    FieldType.STRING_LIST: PRESENCE | {"contains", "not_contains"},
}
# Catalogue fields holding canonical timestamps: ordering them as strings orders them in time.
TIMESTAMP_FIELDS = frozenset(path for path in TIMESTAMP_PATHS if path in EVENT_FIELDS)
# Finer than canonical timestamps (milliseconds): such a bound would be cut, and compare wrongly with them.
_SUB_MILLISECOND = re.compile(r"\.\d{4}", re.ASCII)


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
    return allowed | ORDERING if field in TIMESTAMP_FIELDS else allowed


def check_operator(field: str, op: str) -> None:
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


def check_value(field: str, op: str, value: Any) -> None:
    if op in PRESENCE:
        if value is not None:
            raise ValueError(f"operator {op!r} takes no value")
        return
    if value is None:
        raise ValueError(f"operator {op!r} needs a value")
    kind = EVENT_FIELDS[field]
    if op == "matches":
        matches_pattern(value)
    elif op in ORDERING and field in TIMESTAMP_FIELDS:
        canonical_timestamp(value)
    elif op in LIST_VALUED:
        if not isinstance(value, list) or not value:
            raise ValueError(f"operator {op!r} needs a non-empty list, not {_json_type(value)}")
        if len(value) > MAX_LIST_ITEMS:
            raise ValueError(f"operator {op!r} takes at most {MAX_LIST_ITEMS} values")
        for index, item in enumerate(value):
            _check_scalar(kind, item, f"value[{index}]")
    else:
        _check_scalar(kind, value, "value")


def matches_pattern(value: Any) -> re.Pattern[str]:
    """The compiled `matches` pattern; ValueError when it is not a string or not safe to run."""
    if not isinstance(value, str):
        raise ValueError(f"operator 'matches' needs a regular expression string, not {_json_type(value)}")
    return compile_safe_pattern(value)


def canonical_timestamp(value: Any) -> str:
    """An RFC 3339 timestamp (any offset, at most milliseconds) in canonical `occurred_at` form."""
    if not isinstance(value, str) or _SUB_MILLISECOND.search(value):
        raise ValueError(
            "value must be an RFC 3339 timestamp with a timezone and at most millisecond precision, "
            "e.g. '2026-03-30T12:00:00.000Z'"
        )
    try:
        return iso_utc(parse_rfc3339(value))
    except ValueError as problem:
        raise ValueError(f"value {problem}") from None
