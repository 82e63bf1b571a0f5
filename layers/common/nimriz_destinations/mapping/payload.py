"""Payload pieces: validated dotted output paths, copying JSON values, and sizing them."""

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

MISSING: Any = object()  # what removing a path finds when no value is there (null is a value)

CONTAINER_TYPES = frozenset({dict, list})


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (plain dicts and lists); several times cheaper than copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        copied = value.copy()  # at C speed; only the containers in it are then replaced by copies
        for key, item in value.items():
            if type(item) in CONTAINER_TYPES:
                copied[key] = copy_json(item)
        return copied
    if kind is list:
        return [copy_json(item) if type(item) in CONTAINER_TYPES else item for item in value]
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
