"""Interstitial test data shared by the unit, integration and browser tests: pixels, plans, claims, settings."""

from __future__ import annotations

import time
from typing import Any

from nimriz_destinations.interstitial.plan import ConsentPrompt, InterstitialPlan, PagePixel
from nimriz_destinations.interstitial.token import PageClaims

SECRET = b"interstitial-test-secret-0123456789abcdef"
SECRET_TEXT = SECRET.decode()

META = PagePixel("meta", "123456789012345", ("PageView", "ViewContent"))
TIKTOK = PagePixel("tiktok", "CABCDEFGHIJKLMNOPQ12", ("PageView", "ViewContent"))
GOOGLE = PagePixel("google_tag", "G-ABC1234567", ("page_view",))
LINKEDIN = PagePixel("linkedin", "598178", ("PageView",))
X = PagePixel("x", "nyl43", ("PageView",))
ALL_PIXELS = (META, TIKTOK, GOOGLE, LINKEDIN, X)

CONSENT = ConsentPrompt(
    notice="We use advertising pixels from Meta and TikTok to measure this campaign. "
    "They may set cookies in your browser.",
    accept_label="Accept",
    decline_label="Decline",
)


def page_claims(
    destination_url: str = "https://shop.example.com/spring?utm_source=ig",
    *,
    pixels: tuple[PagePixel, ...] = ALL_PIXELS,
    delay_ms: int = 1000,
    consent: ConsentPrompt | None = None,
    expires_at: int | None = None,
) -> PageClaims:
    return PageClaims(
        destination_url=destination_url,
        workspace_id="ws_dev",
        url_id="0b9a3c3e-5d1f-4a7e-9a57-3f0c8f1d2b64",
        domain_id="7e2f4c1a-9b3d-4e8f-a6c5-1d0b2e3f4a5b",
        plan=InterstitialPlan(pixels=pixels, delay_ms=delay_ms, consent=consent),
        expires_at=int(time.time()) + 300 if expires_at is None else expires_at,
    )


def settings_body(**overrides: Any) -> dict[str, Any]:
    """A valid `settings` object of an interstitial_settings action (the API's JSON shape)."""
    body: dict[str, Any] = {
        "pixels": [{"platform": "meta", "pixel_id": META.pixel_id, "events": ["PageView"]}],
        "delay_ms": 800,
        "consent": {"required": True, "notice": "We use ad pixels for this campaign."},
    }
    body.update(overrides)
    return body
