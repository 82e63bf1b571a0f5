"""Ad Pixel Interstitial: settings served to the redirect edge; nothing is delivered server-side."""

from __future__ import annotations

from .base import Provider


class AdPixelInterstitial(Provider):
    destination_type = "ad_pixel_interstitial"
    action_types = frozenset({"interstitial_settings"})
    delivers = False


PROVIDER = AdPixelInterstitial()
