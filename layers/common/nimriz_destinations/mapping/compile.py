"""Compiled mapping: a validated PropertyMapping turned into steps that build a provider payload from an event."""

from collections.abc import Callable, Mapping
from typing import Any

from ..event_fields import PathGetter, compile_path
from .models import (
    ExcludeOverride,
    IncludeOverride,
    Override,
    PropertyMapping,
    RenameOverride,
    StaticOverride,
    TemplateOverride,
)
from .payload import MISSING, copy_json, pop_path, set_path
from .privacy import apply_privacy
from .templates import compile_template

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
        payload: dict[str, Any] = copy_json(default_payload(visible)) if self._starts_from_default else {}
        for step in self._steps:
            step(payload, visible)
        return payload


def compile_mapping(mapping: PropertyMapping) -> CompiledMapping:
    return CompiledMapping(mapping.base == "default", tuple(_compile_override(item) for item in mapping.overrides))


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _compile_override(override: Override) -> _Step:
    if isinstance(override, RenameOverride):
        return _rename_step(_segments(override.from_), _segments(override.to))
    if isinstance(override, ExcludeOverride):
        return _exclude_step(_segments(override.field))
    if isinstance(override, IncludeOverride):
        return _include_step(compile_path(override.field), _segments(override.to or override.field))
    if isinstance(override, StaticOverride):
        return _static_step(_segments(override.to), override.value)
    assert isinstance(override, TemplateOverride)
    return _template_step(_segments(override.to), compile_template(override.template))


def _rename_step(source: tuple[str, ...], target: tuple[str, ...]) -> _Step:
    def rename(payload: dict[str, Any], _event: Mapping[str, Any]) -> None:
        value = pop_path(payload, source)
        if value is not MISSING:
            set_path(payload, target, value)

    return rename


def _exclude_step(target: tuple[str, ...]) -> _Step:
    def exclude(payload: dict[str, Any], _event: Mapping[str, Any]) -> None:
        pop_path(payload, target)

    return exclude


def _include_step(get: PathGetter, target: tuple[str, ...]) -> _Step:
    def include(payload: dict[str, Any], event: Mapping[str, Any]) -> None:
        value = get(event)
        if value is not None:
            set_path(payload, target, copy_json(value))

    return include


def _static_step(target: tuple[str, ...], value: Any) -> _Step:
    def set_static(payload: dict[str, Any], _event: Mapping[str, Any]) -> None:
        set_path(payload, target, copy_json(value))

    return set_static


def _template_step(target: tuple[str, ...], render: Callable[[Mapping[str, Any]], Any]) -> _Step:
    def set_rendered(payload: dict[str, Any], event: Mapping[str, Any]) -> None:
        set_path(payload, target, render(event))

    return set_rendered
