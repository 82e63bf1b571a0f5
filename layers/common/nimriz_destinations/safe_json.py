"""The one JSON parser for untrusted input: request bodies, pagination cursors and providers' answers
(`providers/responses.read_json`).

Python's `json.loads` accepts things that later crash or corrupt: nesting deep enough to raise RecursionError,
integers past the interpreter's digit limit (ValueError), `NaN` / `Infinity` / `1e999` (not JSON, and stored
they make every later read fail strict parsers), lone surrogate escapes (they cannot be encoded as UTF-8 when
stored) and, for bytes, non-UTF-8 text. `loads` refuses all of them with a customer-safe reason.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # arrays/objects nested inside each other
MAX_INTEGER_DIGITS = 64  # digits of one integer literal (int64 has 19; nothing we send needs more)

_ESCAPE = re.compile(r"\\.", re.S)
_STRING = re.compile(r'"[^"]*"')  # on text without escapes, so every quote delimits a string
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJson(ValueError):
    """The input is not JSON we accept; `reason` is safe to show the caller (it never quotes the input)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(document: str | bytes) -> Any:
    """Parse `document` (bytes must be UTF-8) under the limits above, or raise InvalidJson."""
    if isinstance(document, bytes):
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJson("the text is not valid UTF-8") from None
    else:
        text = document
        if _RAW_SURROGATE.search(text):
            raise InvalidJson("the text is not valid UTF-8")
    if _nests_too_deep(text):
        raise InvalidJson(f"arrays and objects may nest at most {MAX_DEPTH} levels deep")
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_finite_float, parse_constant=_no_constant)
    except InvalidJson:
        raise
    except ValueError as exc:
        # JSONDecodeError's text is a fixed message with a line and column: it never quotes the input.
        raise InvalidJson(f"malformed JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(text) and not _utf8_encodable(value):
        raise InvalidJson("a \\u escape is an unpaired surrogate, which is not a character")
    return value


def _nests_too_deep(text: str) -> bool:
    """Whether arrays and objects in JSON `text` nest deeper than MAX_DEPTH, decided without parsing (the
    parser recurses per level and would raise RecursionError first).

    Escapes go first, so every remaining quote delimits a string, then strings: brackets inside them do not
    count. On malformed text the count can only be too deep, never too shallow, up to where parsing fails.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    if len(brackets) <= MAX_DEPTH:
        return False
    depth = 0
    for bracket in brackets:  # stops at the first level too deep: 60 KB of "[" is decided in 33 steps
        depth += _BRACKET_STEP[bracket]
        if depth > MAX_DEPTH:
            return True
    return False


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidJson(f"integers may have at most {MAX_INTEGER_DIGITS} digits")
    return int(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidJson("a number is too large to represent")
    return value


def _no_constant(name: str) -> float:
    raise InvalidJson(f"{name} is not a JSON value")


def _utf8_encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
