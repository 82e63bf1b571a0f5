"""The one place timestamps are written as text and read back: RFC 3339 UTC with milliseconds and a `Z` (they sort as
text in time order), from a datetime or from Unix seconds; and the instant an RFC 3339 text names."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# RFC 3339 §5.6 `date-time`, upper-case `T` and `Z` only. `datetime.fromisoformat` alone would also take ISO 8601's
# other spellings (a space for the `T`, the basic format, no offset at all).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def iso_utc(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds; a naive datetime is taken as UTC (never as the machine's local time)."""
    # isoformat, not strftime (slower, and it leaves years before 1000 unpadded) nor a formatted string (slower still:
    # every delivery writes timestamps). It cuts the milliseconds, not rounds them; in UTC its offset is "+00:00".
    if moment.tzinfo is None:
        return moment.isoformat(timespec="milliseconds") + "Z"
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def iso_from_unix(seconds: float) -> str:
    return iso_utc(datetime.fromtimestamp(seconds, UTC))


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))


def parse_rfc3339(text: str) -> datetime:
    """The instant an RFC 3339 date and time names, as an aware UTC datetime; ValueError saying why it names none.

    The calendar is checked, not just the shape: no 31 February, no hour 24, and no leap second (`:60`), which
    RFC 3339's grammar allows but a datetime cannot hold, nor can the Unix times providers take.
    """
    if not _RFC3339.fullmatch(text):
        raise ValueError("must be an RFC 3339 timestamp with a timezone, e.g. 2026-03-30T12:34:56.789Z")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as impossible:  # e.g. "day is out of range for month", "second must be in 0..59"
        raise ValueError(f"must be a real date and time ({impossible})") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00, an hour before the first instant a datetime holds
        raise ValueError("must be a date and time within the years 1 to 9999 in UTC") from None
