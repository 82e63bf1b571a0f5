"""Compiled mapping: a validated PropertyMapping turned into one generated function (`codegen`) that builds a
provider payload from an event, its overrides as straight-line statements in list order."""

from collections.abc import Callable, Mapping
from typing import Any

from ..codegen import EventReads, FunctionSource
from .models import (
    ExcludeOverride,
    IncludeOverride,
    Override,
    PropertyMapping,
    RenameOverride,
    StaticOverride,
    TemplateOverride,
)
from .payload import CONTAINER_TYPES, MISSING, copy_json
from .privacy import apply_privacy
from .templates import rendered_expression

DefaultPayload = Callable[[Mapping[str, Any]], dict[str, Any]]
ApplyToPrivate = Callable[[Mapping[str, Any], DefaultPayload], dict[str, Any]]


class CompiledMapping:
    """`apply_to_private(visible, default_payload)` is the generated function itself: `apply` for an event that
    already went through `apply_privacy` (callers that also need that event)."""

    __slots__ = ("apply_to_private",)

    apply_to_private: ApplyToPrivate

    def __init__(self, apply_to_private: ApplyToPrivate) -> None:
        self.apply_to_private = apply_to_private

    def apply(self, event: Mapping[str, Any], default_payload: DefaultPayload) -> dict[str, Any]:
        """The mapped payload for `event`; it shares no mutable object with the event or the configuration."""
        return self.apply_to_private(apply_privacy(event), default_payload)


def compile_mapping(mapping: PropertyMapping) -> CompiledMapping:
    source = FunctionSource("apply_to_private", "visible", "default_payload")
    writer = _PayloadWriter(source, EventReads(source, "visible"))
    if mapping.base == "default":  # not copied: an adapter's default payload is a new object (Provider.default_payload)
        source.add("payload = default_payload(visible)")
    else:
        source.add("payload = {}")
    for override in mapping.overrides:
        writer.apply(override)
    source.add("return payload")
    return CompiledMapping(source.build())


class _PayloadWriter:
    """Statements applying overrides to the local `payload`. Each walks its output path again: an earlier override
    may have replaced or removed any object on the way."""

    def __init__(self, source: FunctionSource, reads: EventReads) -> None:
        self._source = source
        self._reads = reads
        self._missing = source.constant(MISSING)

    def apply(self, override: Override) -> None:
        if isinstance(override, RenameOverride):
            value = self._pop(_segments(override.from_))
            self._source.add(f"if {value} is not {self._missing}:")
            self._set(_segments(override.to), value, depth=2)
        elif isinstance(override, ExcludeOverride):
            self._pop(_segments(override.field))
        elif isinstance(override, IncludeOverride):
            value = self._reads.value(override.field)
            self._source.add(f"if {value} is not None:")
            self._set(_segments(override.to or override.field), self._copy_of(value), depth=2)
        elif isinstance(override, StaticOverride):
            value = self._source.constant(override.value)
            if type(override.value) in CONTAINER_TYPES:  # a fresh copy every time; a scalar cannot be changed
                value = f"{self._source.constant(copy_json)}({value})"
            self._set(_segments(override.to), value)
        else:
            assert isinstance(override, TemplateOverride)
            self._set(_segments(override.to), rendered_expression(override.template, self._source, self._reads))

    def _copy_of(self, value: str) -> str:
        """An expression for a copy of the JSON value in `value` that shares no container with it."""
        copy = self._source.constant(copy_json)
        return f"({copy}({value}) if type({value}) in {self._source.constant(CONTAINER_TYPES)} else {value})"

    def _set(self, segments: tuple[str, ...], value: str, depth: int = 1) -> None:
        """Set the path to the expression `value`, creating missing objects and replacing a non-object in the way."""
        assigned = value
        if not value.isidentifier():  # evaluated before the walk, as a call's argument would be
            assigned = self._source.local()
            self._source.add(f"{assigned} = {value}", depth)
        node = "payload"
        for key in segments[:-1]:
            child = self._source.local()
            self._source.add(f"{child} = {node}.get({key!r})", depth)
            self._source.add(f"if not isinstance({child}, dict):", depth)
            self._source.add(f"{child} = {node}[{key!r}] = {{}}", depth + 1)
            node = child
        self._source.add(f"{node}[{segments[-1]!r}] = {assigned}", depth)

    def _pop(self, segments: tuple[str, ...]) -> str:
        """Remove the value at the path; the local returned holds it (null included), or MISSING."""
        popped = self._source.local()
        if len(segments) > 1:
            self._source.add(f"{popped} = {self._missing}")
        node, depth = "payload", 1
        for key in segments[:-1]:
            child = self._source.local()
            self._source.add(f"{child} = {node}.get({key!r})", depth)
            self._source.add(f"if isinstance({child}, dict):", depth)
            node, depth = child, depth + 1
        self._source.add(f"{popped} = {node}.pop({segments[-1]!r}, {self._missing})", depth)
        return popped


def _segments(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))
