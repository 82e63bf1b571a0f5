"""Timestamps as text: RFC 3339 UTC with milliseconds and a `Z`, whatever datetime they are written from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nimriz_destinations.clock import iso_utc

PARIS_SUMMER = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 3, 30, 12, 34, 56, 789_000, tzinfo=UTC), "2026-03-30T12:34:56.789Z"),
        (datetime(2026, 3, 30, 12, 34, 56, tzinfo=UTC), "2026-03-30T12:34:56.000Z"),
        (datetime(2026, 3, 30, 12, 34, 56, 999_999, tzinfo=UTC), "2026-03-30T12:34:56.999Z"),  # cut, not rounded
        (datetime(2026, 3, 30, 12, 34, 56, 789_000), "2026-03-30T12:34:56.789Z"),  # naive: taken as UTC
        (datetime(2026, 3, 31, 1, 0, 0, 5_000, tzinfo=PARIS_SUMMER), "2026-03-30T23:00:00.005Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05.000Z"),  # four-digit year
        (datetime.min, "0001-01-01T00:00:00.000Z"),
    ],
)
def test_a_timestamp_is_written_in_utc_with_milliseconds_and_a_z(moment: datetime, text: str) -> None:
    assert iso_utc(moment) == text
