"""`{{path}}` templates: parsed and checked at save time, compiled to an expression of a generated mapping
(`codegen`) over the canonical event."""

from dataclasses import dataclass
from typing import Any

from ..codegen import EventReads, FunctionSource
from ..event_fields import require_field
from .payload import compact_json, copy_json

MAX_TEMPLATE_LENGTH = 1000
MAX_RENDERED_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class _Placeholder:
    path: str


def parse_template(template: str) -> tuple[str | _Placeholder, ...]:
    """Split a template into literal text and placeholders; ValueError says what is wrong and where."""
    parts: list[str | _Placeholder] = []
    position = 0
    while position < len(template):
        start = template.find("{{", position)
        literal = template[position : len(template) if start == -1 else start]
        if "}}" in literal:
            raise ValueError(f"'}}}}' at position {position + literal.index('}}')} closes no '{{{{'")
        if literal:
            parts.append(literal)
        if start == -1:
            break
        end = template.find("}}", start + 2)
        if end == -1:
            raise ValueError(f"'{{{{' at position {start} is never closed with '}}}}'")
        path = template[start + 2 : end].strip()
        if not path:
            raise ValueError(f"empty placeholder at position {start}")
        if "{" in path or "}" in path:
            raise ValueError(f"unbalanced braces in the placeholder at position {start}")
        try:
            require_field(path)
        except ValueError as exc:
            raise ValueError(f"placeholder at position {start}: {exc}") from None
        parts.append(_Placeholder(path))
        position = end + 2
    return tuple(parts)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return compact_json(value)


def _lone_value(value: Any) -> Any:
    """What a template that is exactly one placeholder renders of the value (it keeps its JSON type)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:MAX_RENDERED_LENGTH]
    if len(compact_json(value)) > MAX_RENDERED_LENGTH:  # a number, list or object cannot be cut: as if missing
        return ""
    return copy_json(value)


def rendered_expression(template: str, source: FunctionSource, reads: EventReads) -> str:
    """A Python expression, over locals `reads` fills, that renders `template` (validated) against the event."""
    parts = parse_template(template)
    if len(parts) == 1 and isinstance(parts[0], _Placeholder):
        value = reads.value(parts[0].path)
        return f"({value}[:{MAX_RENDERED_LENGTH}] if type({value}) is str else {source.constant(_lone_value)}({value}))"
    as_text = source.constant(_as_text)
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(source.constant(part))
        else:
            value = reads.value(part.path)
            pieces.append(f"({value} if type({value}) is str else {as_text}({value}))")
    joined = " + ".join(pieces) or repr("")  # an empty template renders ""
    return f"({joined})[:{MAX_RENDERED_LENGTH}]"
