"""Signed page tokens: the only way a destination URL reaches the interstitial page (no open redirect).

Format: `v1.<payload>.<signature>`, both parts unpadded base64url. The payload is compact JSON:

    {"v": 1, "exp": <unix seconds>, "ws": workspace_id, "url": url_id, "dom": domain_id, "to": destination_url,
     "px": [[platform, pixel_id, [event, ...]], ...], "ms": delay_ms, "c": [notice, accept, decline] | null}

The signature is HMAC-SHA256, keyed with the per-stage secret, over `nimriz-interstitial-token/v1\\n<payload>`
(the base64url text, so verification needs no re-encoding). Verification compares in constant time before it
decodes anything, then re-checks every field against the platform table and the destination rules, so even a
token signed with a leaked key cannot put anything but ids and allowlisted events on the page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from .plan import (
    MAX_DELAY_MS,
    MAX_LABEL_CHARS,
    MAX_NOTICE_CHARS,
    MAX_PAGE_PIXELS,
    ConsentPrompt,
    InterstitialPlan,
    PagePixel,
)
from .platforms import PLATFORMS
from .urls import check_destination_url

VERSION = "v1"
MAX_TOKEN_CHARS = 8192
MIN_SECRET_BYTES = 32
_SIGNING_CONTEXT = b"nimriz-interstitial-token/v1\n"


class InvalidToken(Exception):
    """Tampered, malformed or signed with another key: the page shows an error and redirects nowhere."""


class ExpiredToken(InvalidToken):
    """Correctly signed but past its expiry."""


@dataclass(frozen=True, slots=True)
class PageClaims:
    """What a token vouches for: one redirect of one link through one interstitial page."""

    destination_url: str
    workspace_id: str
    url_id: str
    domain_id: str
    plan: InterstitialPlan
    expires_at: int  # Unix seconds


def sign_token(claims: PageClaims, secret: bytes) -> str:
    payload = _b64encode(json.dumps(_to_payload(claims), separators=(",", ":"), ensure_ascii=False).encode())
    return f"{VERSION}.{payload}.{_signature(payload, secret)}"


def verify_token(token: str, secret: bytes, *, now: float) -> PageClaims:
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken("token too long")
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != VERSION or not payload or not signature:
        raise InvalidToken("not a v1 token")
    if not hmac.compare_digest(signature.encode(), _signature(payload, secret).encode()):
        raise InvalidToken("bad signature")
    try:
        claims = _from_payload(json.loads(_b64decode(payload)))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InvalidToken(f"malformed payload: {exc}") from None
    if claims.expires_at <= now:
        raise ExpiredToken("token expired")
    return claims


def _signature(payload: str, secret: bytes) -> str:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
    return _b64encode(hmac.new(secret, _SIGNING_CONTEXT + payload.encode(), hashlib.sha256).digest())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(f"bad base64url: {exc}") from None


def _to_payload(claims: PageClaims) -> dict[str, Any]:
    plan, consent = claims.plan, claims.plan.consent
    return {
        "v": 1,
        "exp": claims.expires_at,
        "ws": claims.workspace_id,
        "url": claims.url_id,
        "dom": claims.domain_id,
        "to": claims.destination_url,
        "px": [[pixel.platform, pixel.pixel_id, list(pixel.events)] for pixel in plan.pixels],
        "ms": plan.delay_ms,
        "c": [consent.notice, consent.accept_label, consent.decline_label] if consent else None,
    }


def _from_payload(payload: Any) -> PageClaims:
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise ValueError("unknown payload version")
    consent = payload["c"]
    return PageClaims(
        destination_url=check_destination_url(_text(payload["to"])),
        workspace_id=_text(payload["ws"]),
        url_id=_text(payload["url"]),
        domain_id=_text(payload["dom"]),
        plan=InterstitialPlan(
            pixels=_pixels(payload["px"]),
            delay_ms=_integer(payload["ms"], 0, MAX_DELAY_MS),
            consent=None if consent is None else _consent(consent),
        ),
        expires_at=_integer(payload["exp"], 0, 2**53),
    )


def _pixels(items: Any) -> tuple[PagePixel, ...]:
    if not isinstance(items, list) or not 0 < len(items) <= MAX_PAGE_PIXELS:
        raise ValueError("bad pixel list")
    pixels = []
    for platform_name, pixel_id, events in items:
        platform = PLATFORMS[_text(platform_name)]
        if not platform.accepts_id(_text(pixel_id)):
            raise ValueError(f"bad {platform.name} id")
        if not isinstance(events, list) or not events or not set(events) <= set(platform.events):
            raise ValueError(f"bad {platform.name} events")
        pixels.append(PagePixel(platform.name, pixel_id, tuple(events)))
    return tuple(pixels)


def _consent(items: Any) -> ConsentPrompt:
    notice, accept_label, decline_label = items
    return ConsentPrompt(
        notice=_text(notice, MAX_NOTICE_CHARS),
        accept_label=_text(accept_label, MAX_LABEL_CHARS),
        decline_label=_text(decline_label, MAX_LABEL_CHARS),
    )


def _text(value: Any, max_chars: int = 200) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        raise ValueError("bad text field")
    return value


def _integer(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError("bad number field")
    return value
