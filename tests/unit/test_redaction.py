"""The one redactor: no wire form of a secret, at any offset, across any cut, survives in what is recorded or shown.

Generated secrets carry the characters that change between encodings (quotes, backslashes, non-ASCII, `=`, `+`,
`/`); generated responses echo them in one encoding at any offset. Filler is `~`, which no secret and no encoding
of one contains, so an 8-character window of a secret form found in the output can only be a leak.
"""

from __future__ import annotations

import base64
import html
import json
import string
from collections.abc import Callable
from urllib.parse import quote, quote_plus

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nimriz_destinations.delivery.prepare import shown_request
from nimriz_destinations.delivery.sender import MAX_RESPONSE_BYTES
from nimriz_destinations.delivery.sending import EXCERPT_CHARACTERS, response_excerpt
from nimriz_destinations.providers.base import OutboundRequest, ProviderResponse
from nimriz_destinations.providers.mixpanel import PROVIDER as MIXPANEL
from nimriz_destinations.providers.posthog import PROVIDER as POSTHOG
from nimriz_destinations.providers.responses import MAX_MESSAGE_CHARS, error_excerpt, provider_message
from nimriz_destinations.providers.segment import PROVIDER as SEGMENT
from nimriz_destinations.redaction import REDACTED, redact_secrets, redacted_excerpt, response_text
from tests.provider_support import make_item

FILLER = "~"
SECRET_ALPHABET = string.ascii_letters + string.digits + "\"'\\=+/_-.:é中ü😀\u2028"
secrets = st.text(alphabet=SECRET_ALPHABET, min_size=8, max_size=64)
PROPERTY_SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)


def _base64_echo(encode: Callable[[bytes], bytes], shift: int) -> Callable[[str], tuple[str, str]]:
    """The secret inside a longer base64 token (like Basic `user:secret`): `shift` bytes before it, 2 after."""

    def echo(secret: str) -> tuple[str, str]:
        raw = secret.encode()
        token = encode(FILLER.encode() * shift + raw + FILLER.encode() * 2).decode()
        # The characters the secret alone fixes: those whose 6 bits lie within the secret's bytes.
        first, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
        return token, token[first:end]

    return echo


def _plain(encode: Callable[[str], str]) -> Callable[[str], tuple[str, str]]:
    def echo(secret: str) -> tuple[str, str]:
        encoded = encode(secret)
        return encoded, encoded

    return echo


# Each encoding: secret -> (what the endpoint echoes, the part of it that is the secret's alone).
ENCODINGS: dict[str, Callable[[str], tuple[str, str]]] = {
    "raw": _plain(lambda s: s),
    "json_ascii": _plain(lambda s: json.dumps(s)[1:-1]),
    "json_unicode": _plain(lambda s: json.dumps(s, ensure_ascii=False)[1:-1]),
    "url_no_safe": _plain(lambda s: quote(s, safe="")),
    "url_default": _plain(quote),
    "url_plus": _plain(quote_plus),
    "html": _plain(html.escape),
    **{f"base64_shift{n}": _base64_echo(base64.b64encode, n) for n in range(3)},
    **{f"base64url_shift{n}": _base64_echo(base64.urlsafe_b64encode, n) for n in range(3)},
}
encodings = st.sampled_from(sorted(ENCODINGS))


def leaked_windows(output: str, *forms: str) -> set[str]:
    """8-character windows of `forms` present in `output` (our own `[redacted]` markers excluded)."""
    shown = output.replace(REDACTED, "\0")
    return {form[i : i + 8] for form in forms for i in range(len(form) - 7) if form[i : i + 8] in shown}


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
    own = _base64_echo(base64.b64encode, shift)(secret)[1]
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
