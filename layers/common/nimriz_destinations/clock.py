"""Timestamps as the API shows them: RFC 3339 UTC with milliseconds and a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))
