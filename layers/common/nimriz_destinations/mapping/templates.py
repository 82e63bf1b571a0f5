"""`{{path}}` templates: parsed and checked at save time, compiled to a renderer over the canonical event."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..event_fields import PathGetter, compile_path, require_field
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


def compile_template(template: str) -> Callable[[Mapping[str, Any]], Any]:
    parts = parse_template(template)
    if len(parts) == 1 and isinstance(parts[0], _Placeholder):
        return _lone_placeholder(compile_path(parts[0].path))
    pieces = tuple(part if isinstance(part, str) else compile_path(part.path) for part in parts)

    def render(event: Mapping[str, Any]) -> str:
        text = "".join([piece if isinstance(piece, str) else _as_text(piece(event)) for piece in pieces])
        return text[:MAX_RENDERED_LENGTH]

    return render


def _lone_placeholder(get: PathGetter) -> Callable[[Mapping[str, Any]], Any]:
    def render_value(event: Mapping[str, Any]) -> Any:
        value = get(event)
        if value is None:
            return ""
        if isinstance(value, str):
            return value[:MAX_RENDERED_LENGTH]
        if len(compact_json(value)) > MAX_RENDERED_LENGTH:  # a number, list or object cannot be cut: as if missing
            return ""
        return copy_json(value)

    return render_value
