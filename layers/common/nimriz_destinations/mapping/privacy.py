"""Privacy rules: the fields an event loses before any mapping sees it (design §4)."""

from collections.abc import Mapping
from typing import Any

from ..event_fields import FORBIDDEN_PATHS, STRICT_PRIVACY_FIELDS

# (top-level keys, ((object name, keys inside it), ...)) to remove from an event.
_Removal = tuple[frozenset[str], tuple[tuple[str, frozenset[str]], ...]]


def _removal(paths: tuple[str, ...]) -> _Removal:
    top_level: set[str] = set()
    nested: dict[str, set[str]] = {}
    for path in paths:
        parent, _, key = path.rpartition(".")
        if parent:
            nested.setdefault(parent, set()).add(key)
        else:
            top_level.add(key)
    return frozenset(top_level), tuple((parent, frozenset(keys)) for parent, keys in nested.items())


_STANDARD_REMOVAL = _removal(FORBIDDEN_PATHS)
_STRICT_REMOVAL = _removal(FORBIDDEN_PATHS + STRICT_PRIVACY_FIELDS)


def apply_privacy(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event without the fields its privacy mode forbids; the input is never mutated.

    Raw IP / User-Agent fields (top level or in `context`) are always removed. Strict-mode fields are removed
    unless `privacy_mode` is exactly "standard": a missing or unexpected mode fails closed, as strict.
    Objects that lose no field are shared with the input, not copied.
    """
    top_level, nested = _STANDARD_REMOVAL if event.get("privacy_mode") == "standard" else _STRICT_REMOVAL
    cleaned = dict(event)
    if not top_level.isdisjoint(cleaned):
        for key in top_level:
            cleaned.pop(key, None)
    for parent, keys in nested:
        node = cleaned.get(parent)
        if isinstance(node, dict) and not keys.isdisjoint(node):
            cleaned[parent] = {key: value for key, value in node.items() if key not in keys}
    return cleaned
