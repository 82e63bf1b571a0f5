"""Secrets never leave in what we record or show.

Two jobs: credential hints for responses (`hint`, `redact_credentials`: never more than the last 4 characters),
and redaction of free text that may carry a secret — a provider's response excerpt or error message, a preview
of the request we would send. `redact_secrets` is the one redactor for such text:

* Every wire form of each secret is looked for: raw, JSON-escaped (ASCII-only and not), URL-encoded (`quote` with
  and without `/` kept, `quote_plus`), HTML-escaped (with and without quotes), and base64 (standard and URL-safe).
  Base64 is matched by the characters the secret alone determines at each of the 3 byte alignments, so the secret
  is found inside a longer token too (Basic auth's `user:secret`); the one character on each side of such a
  match that mixes the secret's bits with the neighbouring bytes' stays.
* All occurrences of all forms are found first (overlapping ones too), merged into spans, and each span replaced
  once: replacing one form could otherwise break up another one that overlaps it.
* Cut text (`cut=True`: the body was capped at the read limit) also loses a trailing prefix of any form of 4 or
  more characters, so a secret straddling the cut leaves at most 3 of its characters.
* Truncation to an excerpt happens only after redaction (`redacted_excerpt`).

Short secrets: every full form is redacted whatever its length, so a secret of 1-3 characters blanks each
matching piece of text (a secret that short is guessable anyway; showing it is still never right). Base64
fragments and cut prefixes shorter than 4 characters are left alone: pieces that short match ordinary text and
reveal less than a guess would.
"""

from __future__ import annotations

import base64
import codecs
import html
import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

_HINT_MIN_LENGTH = 12  # shorter secrets show no characters at all
REDACTED = "[redacted]"
MIN_FRAGMENT_CHARS = 4  # shortest base64 fragment or cut prefix that is redacted


def hint(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) >= _HINT_MIN_LENGTH else "…"


def redact_credentials(credentials: dict[str, Any], secret_fields: frozenset[str]) -> dict[str, Any]:
    redacted: dict[str, Any] = {}
    for name, value in credentials.items():
        if name not in secret_fields or value is None:
            redacted[name] = value
        elif isinstance(value, dict):
            redacted[name] = {key: hint(str(item)) for key, item in value.items()}
        else:
            redacted[name] = hint(str(value))
    return redacted


def redact_secrets(text: str, secrets: Iterable[str], *, cut: bool = False) -> str:
    """`text` with every wire form of every secret replaced by `[redacted]`; `cut`: the text ends where a read
    limit cut it, so a secret's beginning there is redacted too."""
    forms = wire_forms(secrets)
    spans = [span for form in forms for span in _occurrences(text, form)]
    if cut:
        spans += [span for form in forms if (span := _cut_prefix(text, form)) is not None]
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in _merged(spans):
        pieces += [text[position:start], REDACTED]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def redacted_excerpt(text: str, secrets: Iterable[str], limit: int, *, cut: bool = False) -> str:
    """At most `limit` characters of `text`, redacted before it is shortened (a secret across the limit
    would otherwise leave its beginning)."""
    return redact_secrets(text, secrets, cut=cut)[:limit]


def response_text(body: bytes, *, cut: bool) -> str:
    """A response body as text. When the read limit cut it, an incomplete last UTF-8 character is dropped rather
    than turned into U+FFFD, so a secret cut there still ends the text as a recognisable prefix."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return decoder.decode(body, final=not cut)


def wire_forms(secrets: Iterable[str]) -> set[str]:
    """Every string that stands for one of `secrets` on the wire (see the module docstring)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= _forms_of(secret)
    return forms


@lru_cache(maxsize=1024)  # every response of a destination is redacted with the same secrets
def _forms_of(secret: str) -> frozenset[str]:
    # surrogatepass: a lone surrogate (valid in JSON input) must not make the secret unredactable.
    raw = secret.encode("utf-8", "surrogatepass")
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(raw, safe=""),
        quote(raw),
        quote_plus(raw),
        html.escape(secret),
        html.escape(secret, quote=False),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.update(fragment for shift in range(3) if (fragment := _base64_fragment(raw, shift, encode)))
    return frozenset(forms)


def _base64_fragment(raw: bytes, shift: int, encode: Callable[[bytes], bytes]) -> str:
    """The base64 characters `raw` alone determines when `shift` (0-2) unknown bytes precede it in the token.

    Character i carries bits 6i..6i+5 of the byte stream: it is fixed by the secret when those bits lie inside
    the secret's bytes, from bit 8*shift up to bit 8*(shift + len(raw)). An empty string when that is fewer
    than MIN_FRAGMENT_CHARS characters.
    """
    encoded = encode(bytes(shift) + raw).decode("ascii")
    first, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
    return encoded[first:end] if end - first >= MIN_FRAGMENT_CHARS else ""


def _occurrences(text: str, form: str) -> Iterable[tuple[int, int]]:
    start = text.find(form)
    while start != -1:
        yield start, start + len(form)
        start = text.find(form, start + 1)  # overlapping occurrences too: "abab" in "ababab" twice


def _cut_prefix(text: str, form: str) -> tuple[int, int] | None:
    """The span of the longest proper prefix of `form` (MIN_FRAGMENT_CHARS or more) that ends `text`."""
    tail_start = max(0, len(text) - len(form) + 1)
    start = text.find(form[0], tail_start)
    while start != -1 and len(text) - start >= MIN_FRAGMENT_CHARS:
        if form.startswith(text[start:]):
            return start, len(text)
        start = text.find(form[0], start + 1)
    return None


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
