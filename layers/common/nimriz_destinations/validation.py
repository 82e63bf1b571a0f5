"""Turn pydantic errors into the API's `details` entries: one per problem, with a readable JSON path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import Problem

# Tagged-union members show up as a path segment right after a list index; they are not part of the document.
_UNION_LISTS = frozenset({"overrides", "conditions", "any", "pixels"})


def format_path(loc: Sequence[int | str], prefix: str = "") -> str:
    path = prefix
    for position, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        if _is_union_tag(loc, position):
            continue
        path = f"{path}.{part}" if path else str(part)
    return path


def _is_union_tag(loc: Sequence[int | str], position: int) -> bool:
    return (
        position >= 2
        and isinstance(loc[position - 1], int)
        and loc[position - 2] in _UNION_LISTS
        and (position + 1 == len(loc) or not isinstance(loc[position + 1], int))
        and _looks_like_tag(loc, position)
    )


def _looks_like_tag(loc: Sequence[int | str], position: int) -> bool:
    # pydantic names union members by tag value (e.g. "rename") or class-derived labels (e.g. "function-after[...]").
    part = str(loc[position])
    return part in _TAGS or "[" in part


_TAGS = frozenset(
    {"rename", "exclude", "include", "static", "template", "condition", "any_group", "Condition", "AnyGroup"}
)


def problems_from_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[Problem]:
    problems = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        reason = _reason(error)
        problems.append(Problem(path=format_path(loc, prefix) or prefix or "body", reason=reason))
    return problems


def _reason(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    return message.removeprefix("Value error, ")
