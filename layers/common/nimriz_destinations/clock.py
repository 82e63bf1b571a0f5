"""The one place timestamps are written as text: RFC 3339 UTC with milliseconds and a `Z` (they sort as text in time
order), from a datetime or from Unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds; a naive datetime is taken as UTC (never as the machine's local time)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def iso_from_unix(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, UTC))


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))
