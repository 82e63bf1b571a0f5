"""Amplitude HTTP V2 / Batch Event Upload API."""

from __future__ import annotations

from typing import Literal

from .base import Credentials, Provider, SecretStr


class AmplitudeCredentials(Credentials):
    api_key: SecretStr
    region: Literal["us", "eu"] = "us"


class Amplitude(Provider):
    destination_type = "amplitude"
    action_types = frozenset({"send_event"})
    credentials_model = AmplitudeCredentials


PROVIDER = Amplitude()
