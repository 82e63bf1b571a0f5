"""Meta Conversions API."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from .base import Credentials, Provider, SecretStr


class MetaCredentials(Credentials):
    pixel_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{5,20}$")]
    access_token: SecretStr
    test_event_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None


class Meta(Provider):
    destination_type = "meta"
    action_types = frozenset({"send_conversion"})
    credentials_model = MetaCredentials


PROVIDER = Meta()
