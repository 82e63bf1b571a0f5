"""Action `property_mapping` (design §7): save-time validation models, privacy rules and a compiled mapper.

Semantics, decided here and relied on by the dispatcher:

* `apply` runs `apply_privacy` first and hands only the privacy-filtered event to the provider's default
  mapping and to every override, so no mapping can re-introduce a removed field (design §4).
* `base: "default"` starts from the provider's default payload (deep-copied: overrides never mutate anything
  the caller or the event owns); `base: "none"` starts from `{}`. Overrides then apply in list order.
* Output paths (`from`, `to`, `exclude.field`) are dotted paths into the payload: segments of 1-64 characters
  from `[A-Za-z0-9_$-]` (`$` for keys such as Mixpanel's `$insert_id`), at most 8 deep. Setting a path creates
  missing objects and replaces a non-object in the way; `rename` and `exclude` of a missing path do nothing.
* `include` copies a canonical field (catalogue paths only); `to` defaults to the same dotted path, so
  `utm.source` lands at `utm.source`. A missing or null field sets nothing.
* `static` sets a copy of its JSON value (at most MAX_STATIC_JSON_LENGTH characters serialised, MAX_STATIC_DEPTH
  levels of nesting).
* `template` renders `{{path}}` placeholders (catalogue paths, optional spaces inside the braces) and nothing
  else: no expressions, no filters, no escapes. Single braces are literal; a `{{` without `}}` or a stray
  `}}` is an error. Missing or null values render as "", strings as themselves and other values as compact
  JSON (`true`, `12.5`, `["a","b"]`); values are inserted verbatim, never re-rendered. Output is cut at
  MAX_RENDERED_LENGTH characters. A template that is exactly one placeholder keeps the value's JSON type
  (a number stays a number, a list a list), and still renders "" when the value is missing.
"""

import json
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

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
)
from pydantic_core import PydanticCustomError

from .event_fields import FORBIDDEN_PATHS, STRICT_PRIVACY_FIELDS, PathGetter, compile_path, require_field

MAX_OVERRIDES = 100
MAX_PATH_DEPTH = 8
MAX_SEGMENT_LENGTH = 64
MAX_TEMPLATE_LENGTH = 1000
MAX_RENDERED_LENGTH = 2000
MAX_STATIC_JSON_LENGTH = 4096
MAX_STATIC_DEPTH = 8

_SEGMENT_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_$-")


# -- privacy ---------------------------------------------------------------------------------------------------

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


# -- paths -----------------------------------------------------------------------------------------------------


def _output_path(path: str) -> str:
    segments = path.split(".")
    if len(segments) > MAX_PATH_DEPTH:
        raise ValueError(f"path {path!r} has more than {MAX_PATH_DEPTH} segments")
    for position, segment in enumerate(segments, start=1):
        if not segment:
            raise ValueError(f"path {path!r} has an empty segment")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise ValueError(f"segment {position} of path {path!r} is longer than {MAX_SEGMENT_LENGTH} characters")
        if not _SEGMENT_CHARACTERS.issuperset(segment):
            raise ValueError(f"segment {segment!r} of path {path!r} may only use letters, digits, '_', '$' and '-'")
    return path


def _canonical_path(path: str) -> str:
    require_field(path)
    return path


OutputPath = Annotated[str, AfterValidator(_output_path)]
CanonicalPath = Annotated[str, AfterValidator(_canonical_path)]

_MISSING: Any = object()


def _set_path(payload: dict[str, Any], segments: tuple[str, ...], value: Any) -> None:
    node = payload
    for key in segments[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[segments[-1]] = value


def _pop_path(payload: dict[str, Any], segments: tuple[str, ...]) -> Any:
    """Remove and return the value at `segments` (null included), or _MISSING."""
    node: Any = payload
    for key in segments[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return _MISSING
    return node.pop(segments[-1], _MISSING)


_CONTAINERS = frozenset({dict, list})


def _copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (plain dicts and lists); several times cheaper than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_json(item) if type(item) in _CONTAINERS else item for key, item in value.items()}
    if kind is list:
        return [_copy_json(item) if type(item) in _CONTAINERS else item for item in value]
    return value


# -- templates -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Placeholder:
    path: str


def _parse_template(template: str) -> tuple[str | _Placeholder, ...]:
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
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _compile_template(template: str) -> Callable[[Mapping[str, Any]], Any]:
    parts = _parse_template(template)
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
        return _copy_json(value)

    return render_value


# -- models ----------------------------------------------------------------------------------------------------


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class RenameOverride(_Override):
    """Move a payload value to another path."""

    type: Literal["rename"]
    from_: OutputPath = Field(alias="from")
    to: OutputPath


class ExcludeOverride(_Override):
    """Remove a payload value."""

    type: Literal["exclude"]
    field: OutputPath


class IncludeOverride(_Override):
    """Copy a canonical event field into the payload."""

    type: Literal["include"]
    field: CanonicalPath
    to: OutputPath | None = Field(default=None, description="Defaults to the field's own dotted path.")


def _exceeds_depth(value: Any, levels_left: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    if levels_left == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_exceeds_depth(child, levels_left - 1) for child in children)


class StaticOverride(_Override):
    """Set a fixed JSON value."""

    type: Literal["static"]
    to: OutputPath
    value: JsonValue

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: JsonValue) -> JsonValue:
        if _exceeds_depth(value, MAX_STATIC_DEPTH):
            raise ValueError(f"value nests deeper than {MAX_STATIC_DEPTH} levels")
        if len(json.dumps(value, ensure_ascii=False)) > MAX_STATIC_JSON_LENGTH:
            raise ValueError(f"value is larger than {MAX_STATIC_JSON_LENGTH} characters of JSON")
        return value


class TemplateOverride(_Override):
    """Render `{{path}}` placeholders against the canonical event."""

    type: Literal["template"]
    to: OutputPath
    template: str = Field(max_length=MAX_TEMPLATE_LENGTH)

    @field_validator("template")
    @classmethod
    def _valid_template(cls, template: str) -> str:
        _parse_template(template)
        return template


_OVERRIDE_MODELS: dict[str, type[_Override]] = {
    "rename": RenameOverride,
    "exclude": ExcludeOverride,
    "include": IncludeOverride,
    "static": StaticOverride,
    "template": TemplateOverride,
}


def _validate_override(value: Any, _handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    # Dispatching on `type` here (rather than a tagged union) keeps union tags out of error locations:
    # a bad path reports `overrides.0.to`, not `overrides.0.rename.to`.
    if isinstance(value, _Override):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError("override", "an override must be an object with a `type`")
    kind = value.get("type")
    if kind is None:
        raise ValidationError.from_exception_data("Override", [{"type": "missing", "loc": ("type",), "input": value}])
    model = _OVERRIDE_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        error = PydanticCustomError(
            "override_type", f"unknown override type {kind!r}; expected one of: {', '.join(_OVERRIDE_MODELS)}"
        )
        raise ValidationError.from_exception_data("Override", [{"type": error, "loc": ("type",), "input": kind}])
    return model.model_validate(value, context=info.context)


Override = Annotated[
    RenameOverride | ExcludeOverride | IncludeOverride | StaticOverride | TemplateOverride,
    WrapValidator(_validate_override),
]


class PropertyMapping(BaseModel):
    """An action's `property_mapping`; `{}` is the provider's default mapping unchanged."""

    model_config = ConfigDict(extra="forbid")

    base: Literal["default", "none"] = "default"
    overrides: list[Override] = Field(default_factory=list, max_length=MAX_OVERRIDES)


# -- compiled mapping ------------------------------------------------------------------------------------------

# One override, compiled: mutates the payload, reads the privacy-filtered event.
_Step = Callable[[dict[str, Any], Mapping[str, Any]], None]
DefaultPayload = Callable[[Mapping[str, Any]], dict[str, Any]]


class CompiledMapping:
    __slots__ = ("_starts_from_default", "_steps")

    def __init__(self, starts_from_default: bool, steps: tuple[_Step, ...]) -> None:
        self._starts_from_default = starts_from_default
        self._steps = steps

    def apply(self, event: Mapping[str, Any], default_payload: DefaultPayload) -> dict[str, Any]:
        """The mapped payload for `event`; it shares no mutable object with the event or the configuration."""
        return self.apply_to_private(apply_privacy(event), default_payload)

    def apply_to_private(self, visible: Mapping[str, Any], default_payload: DefaultPayload) -> dict[str, Any]:
        """`apply` for an event that already went through `apply_privacy` (callers that also need that event)."""
        payload: dict[str, Any] = _copy_json(default_payload(visible)) if self._starts_from_default else {}
        for step in self._steps:
            step(payload, visible)
        return payload


def compile_mapping(mapping: PropertyMapping) -> CompiledMapping:
    return CompiledMapping(mapping.base == "default", tuple(_compile_override(item) for item in mapping.overrides))


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _compile_override(override: _Override) -> _Step:
    if isinstance(override, RenameOverride):
        return _rename_step(_segments(override.from_), _segments(override.to))
    if isinstance(override, ExcludeOverride):
        return _exclude_step(_segments(override.field))
    if isinstance(override, IncludeOverride):
        return _include_step(compile_path(override.field), _segments(override.to or override.field))
    if isinstance(override, StaticOverride):
        return _static_step(_segments(override.to), override.value)
    assert isinstance(override, TemplateOverride)
    return _template_step(_segments(override.to), _compile_template(override.template))


def _rename_step(source: tuple[str, ...], target: tuple[str, ...]) -> _Step:
    def rename(payload: dict[str, Any], _event: Mapping[str, Any]) -> None:
        value = _pop_path(payload, source)
        if value is not _MISSING:
            _set_path(payload, target, value)

    return rename


def _exclude_step(target: tuple[str, ...]) -> _Step:
    def exclude(payload: dict[str, Any], _event: Mapping[str, Any]) -> None:
        _pop_path(payload, target)

    return exclude


def _include_step(get: PathGetter, target: tuple[str, ...]) -> _Step:
    def include(payload: dict[str, Any], event: Mapping[str, Any]) -> None:
        value = get(event)
        if value is not None:
            _set_path(payload, target, _copy_json(value))

    return include


def _static_step(target: tuple[str, ...], value: Any) -> _Step:
    def set_static(payload: dict[str, Any], _event: Mapping[str, Any]) -> None:
        _set_path(payload, target, _copy_json(value))

    return set_static


def _template_step(target: tuple[str, ...], render: Callable[[Mapping[str, Any]], Any]) -> _Step:
    def set_rendered(payload: dict[str, Any], event: Mapping[str, Any]) -> None:
        _set_path(payload, target, render(event))

    return set_rendered
