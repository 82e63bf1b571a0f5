"""Provider registry: destination type -> module. Modules are imported on first use (cold start)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Provider

# One line per provider.
_MODULES: dict[str, str] = {
    "segment": "segment",
    "ga4": "ga4",
    "amplitude": "amplitude",
    "posthog": "posthog",
    "mixpanel": "mixpanel",
    "gtm_server_side": "gtm_server_side",
    "meta": "meta",
    "google_ads": "google_ads",
    "linkedin": "linkedin",
    "tiktok": "tiktok",
    "generic_http": "generic_http",
    "ad_pixel_interstitial": "ad_pixel_interstitial",
}

DESTINATION_TYPES: tuple[str, ...] = tuple(_MODULES)


def get_provider(destination_type: str) -> Provider:
    module = import_module(f"{__name__}.{_MODULES[destination_type]}")
    provider: Provider = module.PROVIDER
    return provider
