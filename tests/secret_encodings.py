"""How real server libraries write a string on the wire, for tests that look for a secret in what is recorded or
shown. Each encoder is written here from the dialect's own rules (or taken from the standard library), never from the
redactor, so a dialect the redactor forgot is caught.

`ENCODINGS` maps a name to `secret -> (what is written, the part of it that is the secret's alone)`: the two differ
only for base64, where the characters at the edges of the secret also carry the bytes around it.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from html.entities import codepoint2name
from urllib.parse import quote, quote_plus

FILLER = "~"  # no secret alphabet of the tests and no encoding contains it


def _utf16_units(character: str) -> list[int]:
    code = ord(character)
    if code < 0x10000:
        return [code]
    code -= 0x10000
    return [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]


def _json_escaped(text: str, escape: Callable[[str], bool], hex_format: str) -> str:
    """A JSON string body: `"` and `\\` always escaped, characters `escape` names as \\uXXXX (UTF-16 units)."""
    out = []
    for character in text:
        if character in '"\\':
            out.append("\\" + character)
        elif escape(character) or ord(character) < 0x20:
            out.extend("\\u" + format(unit, hex_format) for unit in _utf16_units(character))
        else:
            out.append(character)
    return "".join(out)


def php_json(text: str) -> str:
    """PHP's json_encode defaults: `/` as `\\/`, every non-ASCII character as lower-case \\uXXXX."""
    return _json_escaped(text, lambda c: ord(c) > 0x7E, "04x").replace("/", "\\/")


def go_json(text: str) -> str:
    """Go's encoding/json: `<`, `>`, `&`, U+2028 and U+2029 as lower-case \\uXXXX, other non-ASCII as is."""
    return _json_escaped(text, lambda c: c in "<>&\u2028\u2029", "04x")


def upper_case_json(text: str) -> str:
    """Every non-ASCII character as upper-case \\uXXXX (Jackson's ESCAPE_NON_ASCII, Gson and others)."""
    return _json_escaped(text, lambda c: ord(c) > 0x7E, "04X")


def fully_escaped_json(text: str) -> str:
    """Every character as \\uXXXX, upper-case hex: any character may be written this way."""
    return _json_escaped(text, lambda c: True, "04X")


def lower_case_percent(text: str) -> str:
    """Percent-encoding with lower-case hex digits (allowed by RFC 3986 §2.1, emitted by some clients)."""
    return re.sub("%[0-9A-F]{2}", lambda match: match.group().lower(), quote(text, safe=""))


def uri_component(text: str) -> str:
    """JavaScript's encodeURIComponent: these marks stay as they are."""
    return quote(text, safe="-_.!~*'()")


def decimal_references(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else f"&#{ord(c)};" for c in text)


def hex_references(text: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else f"&#X{ord(c):X};" for c in text)


def named_references(text: str) -> str:
    """Every character with an HTML 4 name written by name (`&eacute;`, `&lt;`), the others as they are."""
    return "".join(f"&{codepoint2name[ord(c)]};" if ord(c) in codepoint2name else c for c in text)


def _plain(encode: Callable[[str], str]) -> Callable[[str], tuple[str, str]]:
    def echo(secret: str) -> tuple[str, str]:
        encoded = encode(secret)
        return encoded, encoded

    return echo


def base64_echo(
    encode: Callable[[bytes], bytes], shift: int, after: Callable[[str], str] = str
) -> Callable[[str], tuple[str, str]]:
    """The secret inside a longer base64 token (like Basic `user:secret`): `shift` bytes before it, 2 after; `after`
    writes the token on (e.g. PHP's JSON, which turns every `/` of it into `\\/`)."""

    def echo(secret: str) -> tuple[str, str]:
        raw = secret.encode()
        token = encode(FILLER.encode() * shift + raw + FILLER.encode() * 2).decode()
        # The characters the secret alone fixes: those whose 6 bits lie within the secret's bytes.
        first, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
        return after(token), after(token[first:end])

    return echo


ENCODINGS: dict[str, Callable[[str], tuple[str, str]]] = {
    "raw": _plain(lambda s: s),
    "json_ascii": _plain(lambda s: json.dumps(s)[1:-1]),
    "json_unicode": _plain(lambda s: json.dumps(s, ensure_ascii=False)[1:-1]),
    "json_php": _plain(php_json),
    "json_go": _plain(go_json),
    "json_upper_case": _plain(upper_case_json),
    "json_every_character": _plain(fully_escaped_json),
    "url_no_safe": _plain(lambda s: quote(s, safe="")),
    "url_default": _plain(quote),
    "url_plus": _plain(quote_plus),
    "url_lower_case": _plain(lower_case_percent),
    "url_uri_component": _plain(uri_component),
    "html": _plain(html.escape),
    "html_no_quotes": _plain(lambda s: html.escape(s, quote=False)),
    "html_decimal": _plain(decimal_references),
    "html_hex": _plain(hex_references),
    "html_named": _plain(named_references),
    **{f"base64_shift{n}": base64_echo(base64.b64encode, n) for n in range(3)},
    **{f"base64url_shift{n}": base64_echo(base64.urlsafe_b64encode, n) for n in range(3)},
    **{f"base64_in_php_json_shift{n}": base64_echo(base64.b64encode, n, php_json) for n in range(3)},
    **{f"base64_in_url_shift{n}": base64_echo(base64.b64encode, n, lower_case_percent) for n in range(3)},
}


def leaked_windows(output: str, *forms: str, marker: str = "[redacted]") -> set[str]:
    """8-character windows of `forms` present in `output` (the redactor's own markers excluded)."""
    shown = output.replace(marker, "\0")
    return {form[i : i + 8] for form in forms for i in range(len(form) - 7) if form[i : i + 8] in shown}
