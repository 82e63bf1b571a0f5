"""The text rule for every human-facing string a customer saves: destination and action names, the interstitial
consent notice and its button labels.

A value is stored in NFC. It is refused when it holds a control character (C0, DEL, C1; only a multi-line text
may hold `\\n`), a bidirectional control (it can make text read differently from what it says), a line or
paragraph separator, an unpaired surrogate (not storable as UTF-8), or when nothing visible is left once
invisible characters are removed.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pydantic import BeforeValidator

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SEPARATORS = frozenset("\u2028\u2029")
# Categories that never render a glyph: format characters (zero-width, soft hyphen, tags) and separators.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp"})
# Invisible characters outside those categories: combining grapheme joiner, Hangul fillers, Khmer inherent vowels,
# Mongolian variation selectors, braille blank, and the variation selectors (both blocks).
_INVISIBLE_OTHERS = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def checked_text(value: str, *, line_breaks: bool = False) -> str:
    """`value` in NFC; ValueError naming the rule it breaks. `line_breaks` allows `\\n` (and no other control)."""
    text = unicodedata.normalize("NFC", value)
    for char in text:
        reason = _refusal(char, line_breaks=line_breaks)
        if reason:
            raise ValueError(f"{reason} (found U+{ord(char):04X})")
    if all(_is_invisible(char) for char in text):
        raise ValueError("must contain a visible character: it is empty or only whitespace or invisible characters")
    return text


def _refusal(char: str, *, line_breaks: bool) -> str | None:
    if char == "\n" and line_breaks:
        return None
    category = unicodedata.category(char)
    if category == "Cc":
        allowed = " other than line breaks (\\n)" if line_breaks else ""
        return f"must not contain control characters{allowed}"
    if char in _BIDI_CONTROLS:
        return "must not contain bidirectional control characters"
    if char in _SEPARATORS:
        return "must not contain Unicode line or paragraph separators" + ("; use \\n" if line_breaks else "")
    if category == "Cs":
        return "must be valid Unicode: it contains an unpaired surrogate"
    return None


def _is_invisible(char: str) -> bool:
    return char.isspace() or char in _INVISIBLE_OTHERS or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def _single_line(value: Any) -> Any:
    # Non-strings pass through to the field's own type check, which reports them.
    return checked_text(value) if isinstance(value, str) else value


def _multi_line(value: Any) -> Any:
    return checked_text(value, line_breaks=True) if isinstance(value, str) else value


# Pydantic metadata: put it after the field's StringConstraints, so the rule sees the raw value and the length
# limit and whitespace trimming apply to the NFC form.
SINGLE_LINE_TEXT = BeforeValidator(_single_line)
MULTI_LINE_TEXT = BeforeValidator(_multi_line)
