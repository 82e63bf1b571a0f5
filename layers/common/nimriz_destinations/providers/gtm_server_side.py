"""Google Tag Manager server-side container (GA4-style Measurement Protocol hits to the container URL)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from .base import Credentials, HttpsUrl, Provider, SecretStr


class GTMServerSideCredentials(Credentials):
    container_url: HttpsUrl
    measurement_id: Annotated[str, StringConstraints(pattern=r"^G-[A-Z0-9]{4,20}$")]
    api_secret: SecretStr | None = None


class GTMServerSide(Provider):
    destination_type = "gtm_server_side"
    action_types = frozenset({"send_event"})
    credentials_model = GTMServerSideCredentials
    url_fields = ("container_url",)


PROVIDER = GTMServerSide()
