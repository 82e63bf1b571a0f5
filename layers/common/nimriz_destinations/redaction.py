"""Secrets never leave in what we record or show.

Two jobs: credential hints for responses (`hint`, `redact_credentials`: never more than the last 4 characters),
and redaction of free text that may carry a secret — a provider's answer or error message, a preview of the request
we would send. `redact_secrets` and `redacted_excerpt` are the one redactor for such text.

A secret is found in whatever dialect a server wrote it without listing its forms: the text is read in *views*, each
a decoding of it whose every character maps back to the characters of the text it came from:

* the text as it is;
* JSON string escapes decoded: `\\"`, `\\\\`, `\\/` (PHP), `\\b \\f \\n \\r \\t`, and `\\uXXXX` for any character in
  either case (Go writes `\\u003c \\u003e \\u0026`), surrogate pairs joined;
* percent-decoded: `%xx` in either case, UTF-8 sequences joined, `+` read as a space (form encoding) in one view and
  as itself in another;
* HTML character references decoded: named (`&amp;`, `&eacute;`), decimal, and hexadecimal in either case;
* base64-decoded, standard and URL-safe alphabets, at each of the 4 alignments of every run of base64 characters of
  each view above, so a secret is found inside a longer token (Basic `user:secret`) however the token was written.
  A match counts when the secret's bytes alone fix MIN_FRAGMENT_CHARS or more of the token's characters; the
  characters on its edges, which mix its bits with the neighbouring bytes', are redacted with it.

One Aho–Corasick automaton of the secrets (another of their UTF-8 bytes for base64 views, when they are not ASCII)
searches each view in one pass. A union of spans only needs the longest secret ending at each position (kept per
state through the dictionary suffix links), and spans are merged by where they start: linear in the text even when
every position matches. The automaton is made as texts walk it (a state when a text first reaches it), so a secret
costs at most its length and usually only as much of it as a text resembles. Automata are cached per set of secrets
(the dispatcher redacts every answer of a destination with the same ones), least recently used out first, within a
bounded size.

Only what is kept is read: `redacted_excerpt` redacts the first `limit` characters and no more. A text that goes on
beyond what is read (cut by the excerpt's limit or by the read limit) also loses a trailing beginning of a secret of
MIN_FRAGMENT_CHARS or more characters, counting an escape the cut left incomplete (`\\u00`, `%C3`, `&eacu`), so a
secret straddling the cut leaves at most 3 characters.

Short secrets: a secret of 1-3 characters is still redacted wherever it stands whole in a view (it is guessable
anyway; showing it is still never right). Base64 fragments and cut beginnings shorter than MIN_FRAGMENT_CHARS are
left alone: pieces that short match ordinary text and reveal less than a guess would.
"""

from __future__ import annotations

import binascii
import codecs
import html
import re
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from html.entities import html5
from typing import Any, NamedTuple

_HINT_MIN_LENGTH = 12  # shorter secrets show no characters at all
REDACTED = "[redacted]"
MIN_FRAGMENT_CHARS = 4  # shortest base64 fragment or cut beginning that is redacted


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
    """`text` with every secret, in any view of it, replaced by `[redacted]`; `cut`: the text ends where a read limit
    cut it, so a secret's beginning there is redacted too."""
    patterns = tuple(sorted({secret for secret in secrets if secret}))
    if not patterns or not text:
        return text
    automata = _cache.get(patterns)
    reach = [0] * len(text)  # reach[i]: the furthest end of a span to redact that starts at i
    beginning = len(text)  # where the beginning of a secret the cut went through starts, if anywhere
    for view, tail in _views(text, cut):
        state = _mark(automata.characters, view, reach)
        beginning = min(beginning, _mark_base64(automata.octets, view, reach, cut=cut))
        if cut:
            beginning = min(beginning, _cut_beginning(automata.characters, view, state, tail, len(text)))
    _cache.count(automata)
    if beginning < len(text):
        reach[beginning] = len(text)
    return _replaced(text, reach)


def redacted_excerpt(text: str, secrets: Iterable[str], limit: int, *, cut: bool = False) -> str:
    """At most `limit` characters of `text`, redacted; only those are read, and when the text goes on beyond them (or
    was `cut`) a secret's beginning at their end is redacted too."""
    return redact_secrets(text[:limit], secrets, cut=cut or len(text) > limit)[:limit]


def response_text(body: bytes, *, cut: bool) -> str:
    """A response body as text. When the read limit cut it, an incomplete last UTF-8 character is dropped rather
    than turned into U+FFFD, so a secret cut there still ends the text as a recognisable prefix."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return decoder.decode(body, final=not cut)


# -- the automaton -----------------------------------------------------------------------------------------------


class _Automaton:
    """Aho–Corasick automaton of `patterns` (sorted, distinct, non-empty), made as texts walk it: a state is made the
    first time a text reaches it, so a long secret costs only as much of it as texts resemble.

    A state is a prefix of some patterns: those in patterns[lo:hi] (sorted patterns sharing a prefix are adjacent).
    Its failure link is the longest proper suffix of it that is a state too; `longest` is the length of the longest
    pattern ending it (its own, else its failure link's), all a union of matches needs. The root's transitions (one
    per first character) are all made at once, so a character that begins no pattern costs one lookup.
    """

    __slots__ = ("depth", "fail", "goto", "hi", "lo", "longest", "patterns", "shortest")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = patterns
        self.shortest = min(map(len, patterns))
        self.goto: list[dict[str, int]] = [{}]  # made transitions: 0 where the state has no such child
        self.fail = [0]
        self.depth = [0]
        self.longest = [0]
        self.lo = [0]
        self.hi = [len(patterns)]
        for first in dict.fromkeys(pattern[0] for pattern in patterns):
            self._made(0, first, 0)

    def matches(self, text: str) -> tuple[list[tuple[int, int]], int]:
        """(index, length) of the longest pattern ending at each index of `text` where one ends; the state at its end
        (its depth: the longest end of `text` that begins a pattern)."""
        goto, fail, longest = self.goto, self.fail, self.longest
        found = []
        state = 0
        for index, character in enumerate(text):
            following = goto[state].get(character)
            if following is None:
                following = self._child(state, character) if state else 0
            while not following and state:
                state = fail[state]
                following = goto[state].get(character)
                if following is None:
                    following = self._child(state, character) if state else 0
            state = following
            if longest[state]:
                found.append((index, longest[state]))
        return found, state

    def _child(self, state: int, character: str) -> int:
        """The state `character` leads to from `state` (not the root) as a trie edge (0: none), made on first use.
        Its failure link is `character` read from the failure link of `state`: that walk may reach transitions not
        made yet, which are made on the way back (each needs the same walk from its own failure link, shorter)."""
        goto, fail = self.goto, self.fail
        pending = []  # states on the failure chain whose transition on `character` is not made yet
        target = 0
        suffix = fail[state]
        while True:
            made = goto[suffix].get(character)
            if made:
                target = made
                break
            if made is None and suffix:
                pending.append(suffix)
            if not suffix:
                break
            suffix = fail[suffix]
        for suffix in reversed(pending):  # nearest the root first: each one's failure target is `target`
            target = self._made(suffix, character, target) or target
        return self._made(state, character, target)

    def _made(self, state: int, character: str, failure: int) -> int:
        """Makes the trie edge `character` from `state` with the given failure link, or records that there is none."""
        patterns, depth = self.patterns, self.depth[state]
        lo, hi = self.lo[state], self.hi[state]
        if len(patterns[lo]) == depth:
            lo += 1  # the pattern `state` spells has no next character
        # The patterns of the range are sorted by their character at `depth`: those with `character` are adjacent.
        if lo < hi and not patterns[lo][depth] <= character <= patterns[hi - 1][depth]:
            lo = hi
        elif lo < hi and not patterns[lo][depth] == character == patterns[hi - 1][depth]:
            lo = bisect_left(patterns, character, lo, hi, key=lambda pattern: pattern[depth])
            hi = bisect_right(patterns, character, lo, hi, key=lambda pattern: pattern[depth])
        if lo >= hi:
            self.goto[state][character] = 0
            return 0
        made = self.goto[state][character] = len(self.goto)
        self.goto.append({})
        self.fail.append(failure)
        self.depth.append(depth + 1)
        self.longest.append(depth + 1 if len(patterns[lo]) == depth + 1 else self.longest[failure])
        self.lo.append(lo)
        self.hi.append(hi)
        return made


@dataclass(slots=True)
class _Automata:
    characters: _Automaton  # of the secrets
    octets: _Automaton  # of their UTF-8 bytes, one character per byte (base64 views); the same one for ASCII secrets
    states: int = 0  # how many states they had when last counted

    def recount(self) -> int:
        """The states made since the last count."""
        states = len(self.characters.goto) + (len(self.octets.goto) if self.octets is not self.characters else 0)
        grown, self.states = states - self.states, states
        return grown


class _AutomatonCache:
    """Automata per set of secrets, the least recently used leaving first when there are more than `max_automata` or
    they hold more than `max_states` states together. States are made as texts are read, so each use is counted."""

    def __init__(self, *, max_automata: int, max_states: int) -> None:
        self.max_automata = max_automata
        self.max_states = max_states
        self._entries: OrderedDict[tuple[str, ...], _Automata] = OrderedDict()
        self._states = 0  # the sum of the entries' `states`

    def get(self, patterns: tuple[str, ...]) -> _Automata:
        """The automata of `patterns` (sorted, distinct, non-empty), made when missing."""
        found = self._entries.get(patterns)
        if found is None:
            octets = tuple(sorted(_utf8(pattern).decode("latin-1") for pattern in patterns))
            characters = _Automaton(patterns)
            found = _Automata(characters, characters if octets == patterns else _Automaton(octets))
            self._entries[patterns] = found
        self._entries.move_to_end(patterns)
        return found

    def count(self, used: _Automata) -> None:
        """Counts the states a use of `used` made, then evicts while the cache is over its bounds."""
        self._states += used.recount()
        while len(self._entries) > 1 and (len(self._entries) > self.max_automata or self._states > self.max_states):
            self._states -= self._entries.popitem(last=False)[1].states


# Each state costs about 300 bytes: some tens of MB at most.
_cache = _AutomatonCache(max_automata=64, max_states=300_000)


def _utf8(text: str) -> bytes:
    # surrogatepass: a lone surrogate (valid in JSON input) must not make a secret unredactable.
    return text.encode("utf-8", "surrogatepass")


# -- views -------------------------------------------------------------------------------------------------------


class _View(NamedTuple):
    """A decoding of the text: its characters, and for each the span of the text it was decoded from."""

    characters: str
    starts: Sequence[int]
    ends: Sequence[int]


def _views(text: str, cut: bool) -> Iterator[tuple[_View, int]]:
    """The text itself, then each decoding of it that differs from it, each with where it stops: a cut text's
    decodings stop before an escape the cut left incomplete."""
    yield _View(text, range(len(text)), range(1, len(text) + 1)), len(text)
    decoders = []
    if "\\" in text:
        decoders.append((_json_escapes, _json_tail))
    if "%" in text:
        decoders.append((_percent_escapes, _percent_tail))
    if "+" in text:
        decoders.append((_form_escapes, _percent_tail))
    if "&" in text:
        decoders.append((_html_references, _html_tail))
    for escapes, tail_of in decoders:
        tail = tail_of(text) if cut else len(text)
        view = _decoded(text, escapes(text, tail), tail)
        if view is not None:
            yield view, tail


def _decoded(text: str, escapes: Iterable[tuple[int, int, str]], stop: int) -> _View | None:
    """`text[:stop]` with each (start, end, value) escape replaced by its value; None when there is none."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for start, end, value in escapes:
        pieces += (text[position:start], value)
        starts += range(position, start)
        ends += range(position + 1, start + 1)
        starts += [start] * len(value)
        ends += [end] * len(value)
        position = end
    if not pieces and stop == len(text):
        return None  # the text itself
    pieces.append(text[position:stop])
    starts += range(position, stop)
    ends += range(position + 1, stop + 1)
    return _View("".join(pieces), starts, ends)


_JSON_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\([\"\\/bfnrt])"
)
_JSON_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# An escape a cut can leave incomplete: `\`, `\u`, `\uXXX`, or a high surrogate waiting for its low half.
_JSON_TAIL = re.compile(r"(?:\\u[dD][89abAB][0-9a-fA-F]{2})?(?:\\(?:u[0-9a-fA-F]{0,3})?)?\Z")


def _json_escapes(text: str, stop: int) -> Iterator[tuple[int, int, str]]:
    for match in _JSON_ESCAPE.finditer(text, 0, stop):
        high, low, code, short = match.groups()
        if high:
            value = chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
        else:
            value = chr(int(code, 16)) if code else _JSON_SHORT_ESCAPES[short]
        yield match.start(), match.end(), value


def _json_tail(text: str) -> int:
    match = _JSON_TAIL.search(text, max(0, len(text) - 12))
    start = match.start() if match else len(text)
    backslashes = start - len(text[:start].rstrip("\\"))
    return start if backslashes % 2 == 0 else len(text)  # an odd run: the tail's `\` is itself escaped


_PERCENT_RUN = re.compile(r"(?:%[0-9a-fA-F]{2})+")
_PERCENT_OR_PLUS = re.compile(r"(?:%[0-9a-fA-F]{2})+|\+")
# At most 3 bytes of an incomplete UTF-8 character, then possibly an incomplete escape.
_PERCENT_TAIL = re.compile(r"((?:%[0-9a-fA-F]{2}){0,3})(%[0-9a-fA-F]?)?\Z")


def _percent_escapes(text: str, stop: int) -> Iterator[tuple[int, int, str]]:
    for match in _PERCENT_RUN.finditer(text, 0, stop):
        yield from _percent_decoded(match.start(), match.group())


def _form_escapes(text: str, stop: int) -> Iterator[tuple[int, int, str]]:
    for match in _PERCENT_OR_PLUS.finditer(text, 0, stop):
        if match.group() == "+":
            yield match.start(), match.end(), " "
        else:
            yield from _percent_decoded(match.start(), match.group())


def _percent_decoded(start: int, run: str) -> Iterator[tuple[int, int, str]]:
    """Each character a run of `%xx` escapes spells in UTF-8; a byte that is not UTF-8 stays as it is written."""
    position = start
    for character in bytes.fromhex(run.replace("%", "")).decode("utf-8", "surrogateescape"):
        if "\udc80" <= character <= "\udcff":
            position += 3
            continue
        end = position + 3 * len(character.encode("utf-8"))
        yield position, end, character
        position = end


def _percent_tail(text: str) -> int:
    match = _PERCENT_TAIL.search(text, max(0, len(text) - 11))
    if match is None or match.start() == len(text):
        return len(text)
    complete, incomplete = match.groups()
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    decoder.decode(bytes.fromhex(complete.replace("%", "")), final=False)
    pending = len(decoder.getstate()[0])
    return match.end(1) - 3 * pending if pending else match.start(2) if incomplete else len(text)


_HTML_REFERENCE = re.compile(r"&(?:#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|([A-Za-z][A-Za-z0-9]{0,31}));")
_HTML_TAIL = re.compile(r"&(?:#(?:[xX][0-9a-fA-F]{0,6}|[0-9]{0,7})|([A-Za-z][A-Za-z0-9]{0,31}))?\Z")


def _html_references(text: str, stop: int) -> Iterator[tuple[int, int, str]]:
    for match in _HTML_REFERENCE.finditer(text, 0, stop):
        name = match.group(1)
        if name is None or f"{name};" in html5:
            yield match.start(), match.end(), html.unescape(match.group())


def _html_tail(text: str) -> int:
    match = _HTML_TAIL.search(text, max(0, len(text) - 40))
    if match is None or (match.group(1) and match.group(1) not in _html_name_beginnings()):
        return len(text)
    return match.start()


@cache
def _html_name_beginnings() -> frozenset[str]:
    return frozenset(name[:end] for name in html5 for end in range(1, len(name) + 1))


# -- marking -----------------------------------------------------------------------------------------------------


def _mark(automaton: _Automaton, view: _View, reach: list[int]) -> int:
    """Marks in `reach` every span of the text that a pattern stands whole in; the state at the view's end."""
    found, state = automaton.matches(view.characters)
    starts, ends = view.starts, view.ends
    for index, length in found:
        start, end = starts[index - length + 1], ends[index]
        if end > reach[start]:
            reach[start] = end
    return state


def _cut_beginning(automaton: _Automaton, view: _View, state: int, tail: int, length: int) -> int:
    """Where a secret whose beginning ends the view (and an escape the cut left incomplete after it) starts in the
    text, when that is MIN_FRAGMENT_CHARS or more characters; `length` otherwise."""
    depth = automaton.depth[state]
    start = view.starts[len(view.characters) - depth] if depth else tail
    return start if length - start >= MIN_FRAGMENT_CHARS else length


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{4,}")
_URL_SAFE_TO_STANDARD = str.maketrans("-_", "+/")
# What the characters after the last whole group of 4 decode as: one character carries no whole byte.
_PADDED_REST = (str, lambda rest: "", lambda rest: rest + "==", lambda rest: rest + "=")


def _mark_base64(automaton: _Automaton, view: _View, reach: list[int], *, cut: bool) -> int:
    """Marks in `reach` every secret found in the base64 runs of the view, at each alignment; when `cut`, where the
    beginning of a secret that ends the view starts in the text (the text's length when there is none)."""
    characters, starts, ends = view
    beginning = len(reach)
    # The fewest characters of a run that can hold a secret (its bytes, at least MIN_FRAGMENT_CHARS of them its own)
    # or, ending a cut view, the beginning of one.
    fewest = max(MIN_FRAGMENT_CHARS, (8 * automaton.shortest + 5) // 6)
    for run in _BASE64_RUN.finditer(characters):
        if run.end() - run.start() < fewest and not (cut and run.end() == len(characters)):
            continue
        for first in range(run.start(), min(run.start() + 4, run.end() - MIN_FRAGMENT_CHARS + 1)):
            encoded = characters[first : run.end()].translate(_URL_SAFE_TO_STANDARD)
            whole = len(encoded) - len(encoded) % 4
            decoded = binascii.a2b_base64(encoded[:whole] + _PADDED_REST[len(encoded) % 4](encoded[whole:]))
            found, state = automaton.matches(decoded.decode("latin-1"))
            # Byte i is bits 8i..8i+7 of the token: characters 8i // 6 to (8i + 7) // 6 carry them, and those from
            # (8i + 5) // 6 on carry nothing before it.
            for index, length in found:
                opening = index - length + 1
                if (8 * index + 8) // 6 - (8 * opening + 5) // 6 >= MIN_FRAGMENT_CHARS:
                    start, end = starts[first + 8 * opening // 6], ends[first + (8 * index + 7) // 6]
                    if end > reach[start]:
                        reach[start] = end
            if cut and run.end() == len(characters) and (depth := automaton.depth[state]):
                opening = len(decoded) - depth
                if run.end() - first - (8 * opening + 5) // 6 >= MIN_FRAGMENT_CHARS:
                    beginning = min(beginning, starts[first + 8 * opening // 6])
    return beginning


def _replaced(text: str, reach: list[int]) -> str:
    """`text` with each maximal union of marked spans replaced by one `[redacted]`."""
    pieces: list[str] = []
    copied = 0  # text[:copied] is in `pieces`
    covered = -1  # the end of the span being merged
    for start, end in enumerate(reach):
        if end <= covered or end <= start:
            continue
        if start > covered:
            pieces += (text[copied:start], REDACTED)
        covered = copied = end
    if not pieces:
        return text
    pieces.append(text[copied:])
    return "".join(pieces)
