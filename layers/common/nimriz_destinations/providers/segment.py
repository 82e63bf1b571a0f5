"""Twilio Segment HTTP Tracking API (`track` calls, batch endpoint)."""

from __future__ import annotations

from typing import Literal

from .base import Credentials, Provider, SecretStr


class SegmentCredentials(Credentials):
    write_key: SecretStr
    region: Literal["us", "eu"] = "us"


class Segment(Provider):
    destination_type = "segment"
    action_types = frozenset({"send_event"})
    credentials_model = SegmentCredentials


PROVIDER = Segment()
