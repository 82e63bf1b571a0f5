"""The one redactor: no wire form of a secret, at any offset, across any cut, survives in what is recorded or shown,
and its work grows with what is kept and the secrets only.

Generated secrets carry the characters that change between encodings (quotes, backslashes, non-ASCII, `=`, `+`, `/`,
`%`, `&`, `<`, `>`, spaces); generated responses echo them in one dialect (`tests/secret_encodings.py`: encoders
written from each dialect's rules, not from the redactor) at any offset. Filler is `~`, which no secret and no
encoding of one contains, so an 8-character window of a secret form found in the output can only be a leak.
"""

from __future__ import annotations

import base64
import json
import string
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nimriz_destinations import redaction
from nimriz_destinations.delivery.answer_body import MAX_RESPONSE_BYTES
from nimriz_destinations.delivery.group_sender import EXCERPT_CHARACTERS, response_excerpt
from nimriz_destinations.delivery.prepare import shown_request
from nimriz_destinations.providers.base import OutboundRequest, ProviderResponse
from nimriz_destinations.providers.mixpanel import PROVIDER as MIXPANEL
from nimriz_destinations.providers.posthog import PROVIDER as POSTHOG
from nimriz_destinations.providers.responses import MAX_MESSAGE_CHARS, error_excerpt, provider_message
from nimriz_destinations.providers.segment import PROVIDER as SEGMENT
from nimriz_destinations.redaction import REDACTED, redact_secrets, redacted_excerpt, response_text
from tests import secret_encodings
from tests.provider_support import make_item
from tests.secret_encodings import ENCODINGS, FILLER, base64_echo

SECRET_ALPHABET = string.ascii_letters + string.digits + "\"'\\=+/_-.:%&<> é中ü😀\u2028"
secrets = st.text(alphabet=SECRET_ALPHABET, min_size=8, max_size=64)
PROPERTY_SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)
encodings = st.sampled_from(sorted(ENCODINGS))


def leaked_windows(output: str, *forms: str) -> set[str]:
    return secret_encodings.leaked_windows(output, *forms, marker=REDACTED)


def strings_in(value: object) -> list[str]:
    """Every string in a JSON-like value, keys included: a leak may sit in any of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (*strings_in(key), *strings_in(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


def body_with(echoed: str, offset: int, after: int = 40) -> bytes:
    return (FILLER * offset + echoed + FILLER * after).encode()


def request_with(secret: str) -> OutboundRequest:
    return OutboundRequest("POST", "https://api.example.com/v1", {}, b"{}", (0,), (secret,))


@PROPERTY_SETTINGS
@given(secret=secrets, encoding=encodings, offset=st.integers(0, EXCERPT_CHARACTERS + 16))
def test_delivery_excerpt_holds_no_part_of_a_secret_echoed_at_any_offset(
    secret: str, encoding: str, offset: int
) -> None:
    echoed, own = ENCODINGS[encoding](secret)
    response = ProviderResponse(400, {}, body_with(echoed, offset))
    excerpt = response_excerpt(response, (secret,))
    assert len(excerpt) <= EXCERPT_CHARACTERS
    assert not leaked_windows(excerpt, secret, own), excerpt


@PROPERTY_SETTINGS
@given(secret=secrets, encoding=encodings, offset=st.integers(0, MAX_MESSAGE_CHARS + 16))
def test_provider_error_messages_hold_no_part_of_a_secret(secret: str, encoding: str, offset: int) -> None:
    echoed, own = ENCODINGS[encoding](secret)
    body = body_with(echoed, offset)
    request = request_with(secret)
    analytics_message = error_excerpt(request, ProviderResponse(400, {}, body))
    conversion_message = provider_message(body.decode(), request) or ""
    for message in (analytics_message, conversion_message):
        assert not leaked_windows(message, secret, own), message


@PROPERTY_SETTINGS
@given(secret=secrets, encoding=encodings, overhang=st.integers(1, 120))
def test_a_secret_cut_by_the_read_cap_leaves_no_prefix_of_four_characters(
    secret: str, encoding: str, overhang: int
) -> None:
    echoed, own = ENCODINGS[encoding](secret)
    # The echo starts `overhang` bytes before the cap (possibly inside a multi-byte character) and runs past it.
    whole = body_with(echoed, 0)
    start = MAX_RESPONSE_BYTES - min(overhang, len(whole) - 1)
    body = (FILLER * start).encode() + whole
    cut = ProviderResponse(400, {}, body[:MAX_RESPONSE_BYTES], truncated=True)
    text = redact_secrets(response_text(cut.body, cut=True), (secret,), cut=True)
    assert not leaked_windows(text, secret, own)
    # Only the secret's own characters count: a base64 token's first ones also carry the bytes before it.
    tail = text.rstrip(FILLER)
    assert not any(tail.endswith(own[:n]) for n in range(4, len(own))), tail[-80:]


@PROPERTY_SETTINGS
@given(api_key=secrets)
def test_posthog_preview_shows_no_part_of_the_api_key(api_key: str) -> None:
    def preview(key: str) -> list[str]:
        (request,) = POSTHOG.build_requests([make_item(POSTHOG)], {"api_key": key}, now=0).requests
        return strings_in(shown_request(request, (key, *request.secrets), with_content=True))

    forms = (api_key, json.dumps(api_key)[1:-1], json.dumps(api_key, ensure_ascii=False)[1:-1])
    assume(not any(leaked_windows(text, *forms) for text in preview(FILLER * 8)))  # a key that spells a field name
    for text in preview(api_key):
        assert not leaked_windows(text, *forms), text


@PROPERTY_SETTINGS
@given(username=st.text(alphabet=string.ascii_letters, min_size=1, max_size=20), secret=secrets)
def test_basic_auth_preview_shows_no_part_of_the_secret_in_the_base64_token(username: str, secret: str) -> None:
    def preview(account_secret: str) -> tuple[str, list[str]]:
        credentials = {"project_token": "tok", "project_id": "1", "service_account_username": username}
        credentials["service_account_secret"] = account_secret
        (request,) = MIXPANEL.build_requests([make_item(MIXPANEL)], credentials, now=0).requests
        return request.headers["Authorization"].removeprefix("Basic "), strings_in(
            shown_request(request, (account_secret,), with_content=True)
        )

    shift = (len(username.encode()) + 1) % 3  # `user:` bytes before the secret, modulo base64's 3-byte groups
    own = base64_echo(base64.b64encode, shift)(secret)[1]
    assume(not any(leaked_windows(text, secret, own) for text in preview(FILLER * 8)[1]))
    token, shown = preview(secret)
    for text in shown:
        assert token not in text and not leaked_windows(text, secret, own), text


def test_a_key_is_found_inside_its_basic_token_without_being_told_the_token() -> None:
    write_key = "seg_write_key_0123456789"
    (request,) = SEGMENT.build_requests([make_item(SEGMENT)], {"write_key": write_key}, now=0).requests
    # Only the last characters stay: they encode the ":" after the key (and padding), not the key.
    assert (
        shown_request(request, (write_key,), with_content=True)["headers"]["Authorization"] == f"Basic {REDACTED}Og=="
    )
    assert shown_request(request, request.secrets, with_content=True)["headers"]["Authorization"] == f"Basic {REDACTED}"


def test_overlapping_secrets_are_redacted_as_one_span() -> None:
    text = "before abcdefgh-ijkl after"
    # Replacing one form after the other would leave "-ijkl" or "abcd" depending on the order.
    assert redact_secrets(text, ["abcdefgh", "efgh-ijkl"]) == f"before {REDACTED} after"
    assert redact_secrets("xxabababxx", ["abab"]) == f"xx{REDACTED}xx"


def test_excerpt_is_redacted_before_it_is_cut() -> None:
    secret = "s3cr3t-value-0123"
    text = "~" * 95 + secret
    assert redacted_excerpt(text, [secret], 100) == "~" * 95 + REDACTED[:5]


def test_a_cut_text_loses_a_trailing_prefix_of_four_or_more_characters_only() -> None:
    secret = "abcdefghijkl"
    assert redact_secrets("~~abcd", [secret], cut=True) == f"~~{REDACTED}"
    assert redact_secrets("~~abc", [secret], cut=True) == "~~abc"  # 3 characters match ordinary text too often
    assert redact_secrets("~~abcd", [secret]) == "~~abcd"  # a complete text: "abcd" is not the secret


def test_a_multi_byte_character_cut_in_half_does_not_hide_the_prefix_before_it() -> None:
    secret = "abcdé-rest-of-it"
    body = ("~" + secret).encode()[: len("~abcd") + 1]  # ends in the first byte of é
    assert redact_secrets(response_text(body, cut=True), [secret], cut=True) == f"~{REDACTED}"


def test_short_secrets_are_redacted_whole_but_not_as_fragments() -> None:
    assert redact_secrets("pin=123; ok", ["123"]) == f"pin={REDACTED}; ok"
    # "12" is a cut prefix of only 2 characters: left alone.
    assert redact_secrets("page 12", ["123"], cut=True) == "page 12"


@pytest.mark.parametrize(
    ("secret", "written"),
    [
        ("key/with/slashes", "key\\/with\\/slashes"),  # PHP's json_encode
        ("a<b>&c-0123", "a\\u003cb\\u003e\\u0026c-0123"),  # Go's encoding/json
        ("clé-secrète", "cl\\u00E9-secr\\u00E8te"),  # upper-case hex
        ("tok/en+0123", "tok%2fen%2b0123"),  # lower-case percent-encoding
        ("tok/en+0123", "tok%2Fen+0123"),  # `+` left as it is
        ("pass word12", "pass+word12"),  # form encoding
        ("a&b<c>d'e", "a&amp;b&lt;c&gt;d&#X27;e"),  # HTML, hexadecimal in upper case
        ("café-0123", "caf&eacute;-0123"),  # HTML, named
        ("😀-secret", "\\ud83d\\ude00-secret"),  # a surrogate pair
    ],
)
def test_a_secret_is_redacted_in_the_dialects_real_servers_write(secret: str, written: str) -> None:
    assert redact_secrets(f'{{"echo": "{written}"}}', [secret]) == f'{{"echo": "{REDACTED}"}}'


def test_a_basic_token_written_with_php_escapes_is_still_found() -> None:
    secret = "a?~?~?~secret"  # its base64 carries `/`: PHP writes it `\/`
    token = base64.b64encode(f"user:{secret}".encode()).decode()
    assert "/" in token
    written = secret_encodings.php_json(f"Basic {token}")
    assert not leaked_windows(redact_secrets(written, [secret]), token[8:])


def test_an_escape_cut_by_the_keep_boundary_does_not_leave_the_secret_s_beginning() -> None:
    secret = "éèê-secret-value"
    written = secret_encodings.upper_case_json(secret)
    text = FILLER * 90 + written
    for limit in range(94, 94 + len(written)):
        assert redacted_excerpt(text, [secret], limit) == (FILLER * 90 + REDACTED)[:limit]


def redactor_lines(run: Callable[[], object]) -> int:
    """Lines of redaction.py that `run()` executes: the redactor's work, counted without a clock."""
    count = 0

    def trace_lines(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace_lines

    def trace_calls(frame: FrameType, event: str, arg: Any) -> Any:
        return trace_lines if frame.f_code.co_filename == redaction.__file__ else None

    sys.settrace(trace_calls)
    try:
        run()
    finally:
        sys.settrace(None)
    return count


def test_an_excerpt_costs_the_same_however_long_the_answer_is() -> None:
    # Long secrets of the answer's one character: every position of the answer starts a match.
    long_secrets = tuple("a" * (4096 - n) for n in range(5))

    def excerpt(size: int) -> Callable[[], str]:
        return lambda: response_excerpt(ProviderResponse(200, {}, b"a" * size), long_secrets)

    short, long = excerpt(2 * EXCERPT_CHARACTERS), excerpt(64 * EXCERPT_CHARACTERS)
    short(), long()  # caches filled
    assert redactor_lines(long) == redactor_lines(short)


def test_redaction_work_grows_with_the_text_and_the_secrets_not_with_their_product() -> None:
    def redaction_of(length: int, secret_count: int) -> Callable[[], str]:
        text, repeated = "a" * length, ["a" * (8 + n) for n in range(secret_count)]
        return lambda: redact_secrets(text, repeated, cut=True)

    small, large = redaction_of(500, 4), redaction_of(1000, 8)
    small(), large()  # caches filled
    assert redactor_lines(large) <= 2.5 * redactor_lines(small)


def naive_redaction(text: str, secrets: list[str], *, cut: bool) -> str:
    """Every occurrence of every secret (overlapping ones too) and, when cut, the longest end of the text that begins
    a secret (4 characters or more), merged and replaced: what the redactor must do to plain text."""
    spans = [(i, i + len(s)) for s in secrets for i in range(len(text)) if text.startswith(s, i)]
    if cut:
        ends = [i for i in range(len(text) - 3) if any(s.startswith(text[i:]) for s in secrets)]
        spans += [(min(ends), len(text))] if ends else []
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, position = [], 0
    for start, end in merged:
        pieces += [text[position:start], REDACTED]
        position = end
    return "".join([*pieces, text[position:]])


@settings(derandomize=True, max_examples=500, deadline=None)
@given(
    text=st.text(alphabet="ab", max_size=60),
    secrets=st.lists(st.text(alphabet="ab", min_size=1, max_size=8), min_size=1, max_size=6),
    cut=st.booleans(),
)
def test_plain_text_is_redacted_exactly_as_a_naive_search_would(text: str, secrets: list[str], cut: bool) -> None:
    # Texts of `a` and `b` hold no escape, and their base64 decodes to no `a` or `b` byte: only the text view matches.
    assert redact_secrets(text, secrets, cut=cut) == naive_redaction(text, secrets, cut=cut)


def test_the_automaton_cache_stays_within_its_bounds_however_many_secret_sets_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redaction._cache, "max_states", 20_000)
    for n in range(3 * redaction._cache.max_automata):
        secret = f"{n:04d}" + "x" * 3000  # each text walks 2,000 states of its automaton
        assert redact_secrets(secret[:2000], [secret], cut=True) == REDACTED
    cached = list(redaction._cache._entries.values())
    assert len(cached) <= redaction._cache.max_automata
    assert sum(len(automata.characters.goto) for automata in cached) <= 20_000
