"""What one interstitial page loads: the merged pixel set, the delay and the consent prompt (plain data)."""

from __future__ import annotations

from dataclasses import dataclass

from .platforms import PlatformName

# Limits shared by the settings schema, the token and the page.
MAX_PIXELS_PER_ACTION = 10
MAX_PAGE_PIXELS = 20  # after merging every matching action: keeps tokens (and URLs) a few KB at most
MAX_DELAY_MS = 5000
MAX_NOTICE_CHARS = 500
MAX_LABEL_CHARS = 40


@dataclass(frozen=True, slots=True)
class PagePixel:
    platform: PlatformName
    pixel_id: str
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConsentPrompt:
    notice: str
    accept_label: str
    decline_label: str


@dataclass(frozen=True, slots=True)
class InterstitialPlan:
    pixels: tuple[PagePixel, ...]
    delay_ms: int
    consent: ConsentPrompt | None  # None: no consent step, pixels load when the page opens
