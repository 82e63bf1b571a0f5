"""Amplitude HTTP V2 / Batch Event Upload API."""

from __future__ import annotations

from typing import ClassVar, Literal

from .base import Credentials, Provider, SecretStr


class AmplitudeCredentials(Credentials):
    api_key: SecretStr
    region: Literal["us", "eu"] = "us"


class Amplitude(Provider):
    type = "amplitude"
    action_types = frozenset({"send_event"})
    credentials_model: ClassVar[type[Credentials]] = AmplitudeCredentials


PROVIDER = Amplitude()
