"""TikTok Events API 2.0."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from .base import Credentials, Provider, SecretStr


class TikTokCredentials(Credentials):
    pixel_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10,32}$")]
    access_token: SecretStr
    test_event_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None


class TikTok(Provider):
    destination_type = "tiktok"
    action_types = frozenset({"send_conversion"})
    credentials_model = TikTokCredentials


PROVIDER = TikTok()
