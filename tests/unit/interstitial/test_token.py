"""Page tokens: HMAC-signed, expiring, and re-checked on the way in so nothing but ids and events reach a page."""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace

import pytest

from nimriz_destinations.interstitial.plan import PagePixel
from nimriz_destinations.interstitial.token import (
    MAX_TOKEN_CHARS,
    ExpiredToken,
    InvalidToken,
    sign_token,
    verify_token,
)
from tests.browser.builders import CONSENT, META, SECRET, page_claims

NOW = 1_800_000_000.0


def test_a_signed_token_verifies_to_the_same_claims() -> None:
    claims = page_claims(consent=CONSENT, expires_at=int(NOW) + 60)
    assert verify_token(sign_token(claims, SECRET), SECRET, now=NOW) == claims


def test_the_token_is_versioned_url_safe_base64_with_a_full_sha256_signature() -> None:
    token = sign_token(page_claims(expires_at=int(NOW) + 60), SECRET)
    version, payload, signature = token.split(".")
    assert version == "v1"
    assert re.fullmatch(r"[A-Za-z0-9_-]+", payload) and re.fullmatch(r"[A-Za-z0-9_-]{43}", signature)
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded["to"] == "https://shop.example.com/spring?utm_source=ig"
    assert decoded["exp"] == int(NOW) + 60


def test_changing_any_character_invalidates_the_token() -> None:
    token = sign_token(page_claims(expires_at=int(NOW) + 60), SECRET)
    for position in range(len(token)):
        if token[position] == ".":
            continue
        flipped = "A" if token[position] != "A" else "B"
        with pytest.raises(InvalidToken):
            verify_token(token[:position] + flipped + token[position + 1 :], SECRET, now=NOW)


def test_a_payload_cannot_borrow_another_tokens_signature() -> None:
    mine = sign_token(page_claims("https://shop.example.com/", expires_at=int(NOW) + 60), SECRET)
    evil = sign_token(page_claims("https://evil.example/", expires_at=int(NOW) + 60), b"x" * 32)
    _, evil_payload, _ = evil.split(".")
    _, _, my_signature = mine.split(".")
    with pytest.raises(InvalidToken):
        verify_token(f"v1.{evil_payload}.{my_signature}", SECRET, now=NOW)


def test_a_token_signed_with_another_secret_is_invalid() -> None:
    token = sign_token(page_claims(expires_at=int(NOW) + 60), b"another-secret-of-at-least-32-bytes!!")
    with pytest.raises(InvalidToken):
        verify_token(token, SECRET, now=NOW)


@pytest.mark.parametrize("seconds_left", [0, -1, -3600])
def test_a_token_at_or_past_its_expiry_is_expired(seconds_left: int) -> None:
    token = sign_token(page_claims(expires_at=int(NOW) + seconds_left), SECRET)
    with pytest.raises(ExpiredToken):
        verify_token(token, SECRET, now=NOW)


@pytest.mark.parametrize("token", ["", "v1", "v1..", "v2.e30.abc", "v1.e30", "not a token", "v1.%%%.%%%"])
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(token, SECRET, now=NOW)


def test_an_oversized_token_is_refused_before_any_work() -> None:
    with pytest.raises(InvalidToken, match="too long"):
        verify_token("v1." + "A" * MAX_TOKEN_CHARS, SECRET, now=NOW)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        sign_token(page_claims(), b"short")


@pytest.mark.parametrize(
    "destination_url", ["javascript:alert(1)", "data:text/html,x", "//evil.example/", "https://user@evil.example/"]
)
def test_even_a_correctly_signed_token_cannot_carry_an_unsafe_destination(destination_url: str) -> None:
    token = sign_token(page_claims(destination_url, expires_at=int(NOW) + 60), SECRET)
    with pytest.raises(InvalidToken):
        verify_token(token, SECRET, now=NOW)


@pytest.mark.parametrize(
    "pixel",
    [
        PagePixel("meta", '"><script>alert(1)</script>', ("PageView",)),
        PagePixel("meta", META.pixel_id, ("PageView');alert(1);//",)),
        PagePixel("linkedin", "598178", ("ViewContent",)),
        PagePixel("pinterest", "2612345678901", ("pagevisit",)),  # type: ignore[arg-type]
    ],
)
def test_even_a_correctly_signed_token_cannot_carry_anything_but_ids_and_allowlisted_events(pixel: PagePixel) -> None:
    token = sign_token(page_claims(pixels=(pixel,), expires_at=int(NOW) + 60), SECRET)
    with pytest.raises(InvalidToken):
        verify_token(token, SECRET, now=NOW)


def test_delay_and_consent_are_covered_by_the_signature() -> None:
    claims = page_claims(consent=CONSENT, expires_at=int(NOW) + 60)
    token = sign_token(claims, SECRET)
    _, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["c"], decoded["ms"] = None, 0
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        verify_token(f"v1.{forged}.{signature}", SECRET, now=NOW)


def test_twenty_pixels_with_a_full_notice_fit_in_a_url() -> None:
    pixels = tuple(PagePixel("linkedin", str(10_000_000 + n), ("PageView",)) for n in range(20))
    consent = replace(CONSENT, notice="n" * 500)
    token = sign_token(page_claims(pixels=pixels, consent=consent, expires_at=int(time.time()) + 60), SECRET)
    assert len(token) < 4096
