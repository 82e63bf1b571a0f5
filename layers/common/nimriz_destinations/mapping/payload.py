"""Payload edits: validated dotted output paths, setting, removing and copying JSON values along them, and sizing
JSON values."""

import json
import string
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import to_json

MAX_PATH_DEPTH = 8
MAX_SEGMENT_LENGTH = 64

_SEGMENT_CHARACTERS = frozenset(string.ascii_letters + string.digits + "_$-")


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


OutputPath = Annotated[str, AfterValidator(_output_path)]

MISSING: Any = object()  # what pop_path returns when no value is there (null is a value)


def set_path(payload: dict[str, Any], segments: tuple[str, ...], value: Any) -> None:
    node = payload
    for key in segments[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[segments[-1]] = value


def pop_path(payload: dict[str, Any], segments: tuple[str, ...]) -> Any:
    """Remove and return the value at `segments` (null included), or MISSING."""
    node: Any = payload
    for key in segments[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return MISSING
    return node.pop(segments[-1], MISSING)


_CONTAINERS = frozenset({dict, list})


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (plain dicts and lists); several times cheaper than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json(item) if type(item) in _CONTAINERS else item for key, item in value.items()}
    if kind is list:
        return [copy_json(item) if type(item) in _CONTAINERS else item for item in value]
    return value


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def compact_json(value: Any) -> str:
    """`value` as compact JSON text, non-ASCII characters as they are: the form adapters send
    (`providers.common.json_bytes` is its UTF-8)."""
    return _COMPACT_JSON.encode(value)


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON. pydantic-core's serialiser writes it several times faster than the
    json module and the same bytes, except that it drops a negative exponent's leading zero (1e-7, not 1e-07)."""
    return len(to_json(value))
