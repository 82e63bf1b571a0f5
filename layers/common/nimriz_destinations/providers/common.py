"""Small pieces every provider adapter needs: times, identity, JSON bodies, batching by count and bytes."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..clock import iso_utc

# Segment-style human names for the canonical event types (where a tool expects names, not codes).
HUMAN_EVENT_NAMES: Mapping[str, str] = {
    "link.clicked": "Link Clicked",
    "link.qr_scanned": "QR Scanned",
    "card.viewed": "Card Viewed",
    "card.link_clicked": "Card Link Clicked",
    "conversion.lead": "Lead",
    "conversion.sale": "Sale",
    "conversion.refund": "Refund",
    "conversion.cancellation": "Cancellation",
    "conversion.reversal": "Reversal",
}


def occurred_at(event: Mapping[str, Any]) -> datetime:
    """The event time as an aware UTC datetime (canonical `occurred_at` is RFC 3339 UTC with milliseconds)."""
    return _utc_moment(str(event["occurred_at"]))


# Remembered per text: a payload reads the event time several times (timestamp, epoch, age checks) and one event
# goes to several actions. Datetimes are immutable, so sharing one is safe.
@functools.lru_cache(maxsize=4096)
def _utc_moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # reads a `Z` as UTC (Python 3.11+)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# `occurred_at` as producers write it (design §4): already the text iso_utc writes for that instant.
_ISO_UTC_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)


def occurred_at_text(event: Mapping[str, Any]) -> str:
    """`iso_utc(occurred_at(event))`: the event time as RFC 3339 UTC with milliseconds, without formatting a datetime
    anew when the event's text already is that (formatting an aware datetime costs several times this check, on every
    Segment and PostHog payload)."""
    text = str(event["occurred_at"])
    moment = _utc_moment(text)  # raises for a date or time that does not exist, as occurred_at does
    return text if _ISO_UTC_TEXT.fullmatch(text) else iso_utc(moment)


def epoch_millis(event: Mapping[str, Any]) -> int:
    return int(occurred_at(event).timestamp() * 1000)


def epoch_seconds(event: Mapping[str, Any]) -> int:
    return int(occurred_at(event).timestamp())


def anonymous_id(event: Mapping[str, Any]) -> str:
    """The visitor identity: the daily-rotating `visitor_hash` (standard mode), else the synthetic click id."""
    visitor = event.get("visitor") or {}
    return str(visitor.get("visitor_hash") or visitor.get("click_id") or event["id"])


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chunk_by_limits(sizes: Sequence[int], *, max_count: int, max_bytes: int, overhead: int = 0) -> list[list[int]]:
    """Split item positions into consecutive groups within a count limit and a byte limit.

    `sizes[i]` is the serialized size of item i (plus its separator); `overhead` is the fixed envelope size
    of one request. An item too large on its own still gets a group of its own: the provider will refuse
    it and the classification records why, instead of it silently disappearing.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    current_bytes = overhead
    for position, size in enumerate(sizes):
        if current and (len(current) >= max_count or current_bytes + size > max_bytes):
            groups.append(current)
            current, current_bytes = [], overhead
        current.append(position)
        current_bytes += size
    if current:
        groups.append(current)
    return groups
