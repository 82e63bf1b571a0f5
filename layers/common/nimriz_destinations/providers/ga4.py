"""Google Analytics 4 Measurement Protocol."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from .base import Credentials, Provider, SecretStr


class GA4Credentials(Credentials):
    measurement_id: Annotated[str, StringConstraints(pattern=r"^G-[A-Z0-9]{4,20}$")]
    api_secret: SecretStr
    region: Literal["global", "eu"] = "global"


class GA4(Provider):
    destination_type = "ga4"
    action_types = frozenset({"send_event"})
    credentials_model = GA4Credentials


PROVIDER = GA4()
