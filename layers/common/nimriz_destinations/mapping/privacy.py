"""Privacy rules: the fields an event loses before any mapping sees it (design §4)."""

from collections.abc import Callable, Mapping
from typing import Any

from ..codegen import FunctionSource
from ..event_fields import FORBIDDEN_PATHS, STRICT_PRIVACY_FIELDS

Removal = Callable[[Mapping[str, Any]], dict[str, Any]]


def _compile_removal(paths: tuple[str, ...]) -> Removal:
    """A generated function (`codegen`) returning a copy of the event without `paths` (each top-level or one object
    deep): every event goes through it once per delivery, and a key test written out costs less than a set
    operation over the event's keys."""
    top_level: list[str] = []
    nested: dict[str, list[str]] = {}
    for path in paths:
        parent, _, key = path.rpartition(".")
        if parent:
            nested.setdefault(parent, []).append(key)
        else:
            top_level.append(key)
    source = FunctionSource("remove_fields", "event")
    source.add("cleaned = dict(event)")
    if top_level:
        source.add(f"if {_any_in(top_level, 'cleaned')}:")
        for key in top_level:
            source.add(f"cleaned.pop({key!r}, None)", depth=2)
    for parent, keys in nested.items():
        node, removed = source.local(), source.constant(frozenset(keys))
        source.add(f"{node} = cleaned.get({parent!r})")
        source.add(f"if isinstance({node}, dict) and ({_any_in(keys, node)}):")
        source.add(f"cleaned[{parent!r}] = {{key: value for key, value in {node}.items() if key not in {removed}}}", 2)
    source.add("return cleaned")
    removal: Removal = source.build()
    return removal


def _any_in(keys: list[str], mapping: str) -> str:
    return " or ".join(f"{key!r} in {mapping}" for key in keys)


_STANDARD_REMOVAL = _compile_removal(FORBIDDEN_PATHS)
_STRICT_REMOVAL = _compile_removal(FORBIDDEN_PATHS + STRICT_PRIVACY_FIELDS)


def apply_privacy(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event without the fields its privacy mode forbids; the input is never mutated.

    Raw IP / User-Agent fields (top level or in `context`) are always removed. Strict-mode fields are removed
    unless `privacy_mode` is exactly "standard": a missing or unexpected mode fails closed, as strict.
    Objects that lose no field are shared with the input, not copied.
    """
    return (_STANDARD_REMOVAL if event.get("privacy_mode") == "standard" else _STRICT_REMOVAL)(event)
