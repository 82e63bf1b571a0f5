"""Timestamps as text: RFC 3339 UTC with milliseconds and a `Z`, whatever datetime they are written from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimriz_destinations.clock import iso_utc
from nimriz_destinations.providers.common import occurred_at, occurred_at_text

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


# -- an event's time as text, read without formatting it anew ---------------------------------------------------

OFFSETS = st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"])
DIGITS = st.sampled_from([0, 1, 3, 6])


def _occurred_at_texts() -> st.SearchStrategy[str]:
    """RFC 3339 texts as producers may write them, and impossible dates and times in the same shape."""
    written = st.builds(
        lambda moment, digits, offset: (
            moment.strftime("%Y-%m-%dT%H:%M:%S")
            + (f".{moment.microsecond:06d}"[: digits + 1] if digits else "")
            + offset
        ),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        DIGITS,
        OFFSETS,
    )
    impossible = st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z".format,
        st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25), st.integers(0, 61),
        st.integers(0, 61), st.integers(0, 999),
    )  # fmt: skip
    return written | impossible


@settings(max_examples=500, deadline=None, derandomize=True)
@given(_occurred_at_texts())
def test_an_events_time_as_text_is_what_iso_utc_writes_for_it_or_the_same_error(text: str) -> None:
    event = {"occurred_at": text}
    try:
        expected = iso_utc(occurred_at(event))
    except ValueError:
        with pytest.raises(ValueError):
            occurred_at_text(event)
    else:
        assert occurred_at_text(event) == expected
