"""The interstitial functions' environment, read in this one place (the shared `settings` module covers the rest).

Local-only knobs (pixel host overrides, a plain token secret) are ignored unless STAGE is `local`, so a
misconfigured deployment can neither point pages at other script hosts nor sign with a guessable key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from urllib.parse import urlsplit

from .platforms import PLATFORM_NAMES


@dataclass(frozen=True, slots=True)
class InterstitialConfig:
    stage: str
    token_secret_arn: str = ""  # Secrets Manager secret holding the per-stage HMAC key
    local_token_secret: str = ""  # local stage only: NIMRIZ_INTERSTITIAL_SECRET
    page_base_url: str = ""  # where /i/{token} is served; empty: derived from the request
    # local stage only: platform -> base URL replacing the scheme, host and port of that platform's hosts
    pixel_host_overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def parse_pixel_host_overrides(text: str) -> Mapping[str, str]:
    """`{"meta": "http://127.0.0.1:4010/meta", ...}`: known platforms to http(s) base URLs (a path prefix is kept)."""
    if not text.strip():
        return MappingProxyType({})
    overrides = json.loads(text)
    if not isinstance(overrides, dict):
        raise ValueError("NIMRIZ_PIXEL_HOST_OVERRIDES must be a JSON object: platform -> base URL")
    for platform, base in overrides.items():
        if platform not in PLATFORM_NAMES:
            raise ValueError(f"NIMRIZ_PIXEL_HOST_OVERRIDES: unknown platform {platform!r}")
        parts = urlsplit(base) if isinstance(base, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(f"NIMRIZ_PIXEL_HOST_OVERRIDES: {platform} needs an http(s) base URL without a query")
    return MappingProxyType({platform: base.rstrip("/") for platform, base in overrides.items()})


def load_config(env: Mapping[str, str]) -> InterstitialConfig:
    stage = env.get("STAGE", "dev")
    local = stage == "local"
    return InterstitialConfig(
        stage=stage,
        token_secret_arn=env.get("INTERSTITIAL_TOKEN_SECRET_ARN", ""),
        local_token_secret=env.get("NIMRIZ_INTERSTITIAL_SECRET", "") if local else "",
        page_base_url=env.get("INTERSTITIAL_PAGE_BASE_URL", ""),
        pixel_host_overrides=parse_pixel_host_overrides(env.get("NIMRIZ_PIXEL_HOST_OVERRIDES", "") if local else ""),
    )


@cache
def get_config() -> InterstitialConfig:
    return load_config(os.environ)
