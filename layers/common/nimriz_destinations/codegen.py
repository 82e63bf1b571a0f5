"""Straight-line Python written from a validated configuration: compiled filters and mappings (design §6, §7) are
functions generated once per configuration version, so that an event meets plain statements instead of a tree of
closures calling one another.

What the configuration holds never becomes source text: its values (list items, strings, numbers, patterns,
template text) are constants the function reads by name, and its paths appear only key by key, each written with
`repr`. The text is thus a function of the configuration's shape and of our own code alone; code compiled from it
is shared by every configuration of the same shape (a bounded cache).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import CodeType, MappingProxyType
from typing import Any

_EMPTY_OBJECT: Mapping[str, Any] = MappingProxyType({})


def as_object(value: Any) -> Mapping[str, Any]:
    """`value` when it is an object, else an empty one: what a path below a missing or non-object value reads."""
    return value if value is not None and isinstance(value, Mapping) else _EMPTY_OBJECT


@lru_cache(maxsize=1024)
def _compiled(source: str) -> CodeType:
    return compile(source, "<generated>", "exec")


class FunctionSource:
    """The source of one generated function: its lines, fresh local names, and the constants it reads."""

    def __init__(self, name: str, *parameters: str) -> None:
        self._name = name
        self._parameters = parameters
        self._lines: list[str] = []
        self._constants: dict[str, Any] = {}
        self._constant_names: dict[int, str] = {}  # by identity: a helper used many times is one constant
        self._local_numbers = itertools.count()

    def constant(self, value: Any) -> str:
        """The name under which the function reads `value`."""
        name = self._constant_names.get(id(value))
        if name is None:
            name = self._constant_names[id(value)] = f"_k{len(self._constants)}"
            self._constants[name] = value
        return name

    def local(self) -> str:
        return f"_v{next(self._local_numbers)}"

    def add(self, statement: str, depth: int = 1) -> None:
        """A line of the body, `depth` levels in (1: the function's own level)."""
        self._lines.append("    " * depth + statement)

    def build(self) -> Callable[..., Any]:
        source = "\n".join([f"def {self._name}({', '.join(self._parameters)}):", *self._lines, ""])
        namespace = dict(self._constants)
        exec(_compiled(source), namespace)  # our own text (see the module docstring), compiled once per shape
        function: Callable[..., Any] = namespace[self._name]
        return function


class EventReads:
    """Values at dotted paths of an event, each read into a local once, at the function's own level, just before
    the statement that first needs it: the statements of a compiled filter or mapping run in order, so that read
    is done for every later one. A value is None when absent or null, or when an object on its way is not one."""

    def __init__(self, source: FunctionSource, event: str) -> None:
        self._source = source
        self._values: dict[tuple[str, ...], str] = {}
        self._objects: dict[tuple[str, ...], str] = {(): event}
        self._as_object = source.constant(as_object)

    def value(self, path: str) -> str:
        """The local holding the value at `path`."""
        return self._value(tuple(path.split(".")))

    def _value(self, keys: tuple[str, ...]) -> str:
        name = self._values.get(keys)
        if name is None:
            parent = self._object(keys[:-1])
            name = self._values[keys] = self._source.local()
            self._source.add(f"{name} = {parent}.get({keys[-1]!r})")
        return name

    def _object(self, keys: tuple[str, ...]) -> str:
        name = self._objects.get(keys)
        if name is None:
            value = self._value(keys)
            name = self._objects[keys] = self._source.local()
            self._source.add(f"{name} = {value} if type({value}) is dict else {self._as_object}({value})")
        return name
