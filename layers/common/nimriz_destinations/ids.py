"""Ids. Every id the service makes is a UUID in its canonical lower-case text form: destinations, actions, API keys
version 4; deliveries (test deliveries included), parked events and audit entries the version 7 layout (48-bit Unix ms
first), so the delivery log, parked events and audit log sort by time.

Live deliveries derive the remaining bits from (event id, action id): the same event fanned out twice to the
same action gets the same delivery id, which the dispatcher's idempotency check relies on.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid

# The one shape of an id (36 characters). Anything else names nothing stored: it is never put in a key, where a
# value past DynamoDB's key limits would be refused (design §3).
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_ID = re.compile(ID_PATTERN)


# The Nimriz platform's own ids (workspaces, organizations): what the admin API makes keys for, and so the only
# workspaces that can have destinations. A UUID fits; so do the local stack's `ws_dev`.
PLATFORM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_PLATFORM_ID = re.compile(PLATFORM_ID_PATTERN)


def is_platform_id(value: str) -> bool:
    return _PLATFORM_ID.fullmatch(value) is not None


def is_id(value: str) -> bool:
    """Whether `value` has the shape of an id this service makes (lower case: callers lower-case what clients send)."""
    return _ID.fullmatch(value) is not None


def _uuid7(millis: int, tail: bytes) -> str:
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(tail[:10], "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def live_delivery_id(event_id: str, action_id: str, occurred_millis: int) -> str:
    return _uuid7(occurred_millis, hashlib.sha256(f"{event_id}\x00{action_id}".encode()).digest())


def time_order_prefix(millis: int) -> str:
    """The first 13 characters of every version-7 id made at `millis` (its 48-bit time, hyphenated as in an id): ids
    made earlier sort below it as text, ids made then or later above it (they extend it)."""
    digits = f"{millis & ((1 << 48) - 1):012x}"
    return f"{digits[:8]}-{digits[8:]}"


def new_delivery_id(now_millis: int) -> str:
    return _uuid7(now_millis, os.urandom(10))


def id_millis(delivery_id: str) -> int:
    """The Unix ms a time-ordered (version 7) id carries: a live delivery's event occurred_at, others' making."""
    return int(delivery_id.replace("-", "")[:12], 16)


def recovered_delivery_id(delivery_id: str) -> str:
    """The delivery a recovery makes of a finished one (dead-lettered, skipped): of the same time as the original,
    so it sorts beside it, and the same whichever recovery or copy of a page makes it, so recovering a delivery
    twice queues the same delivery, which its record sends once."""
    return _uuid7(id_millis(delivery_id), hashlib.sha256(f"recovered\x00{delivery_id}".encode()).digest())


def delivery_id_range(since_millis: int, until_millis: int) -> tuple[str, str]:
    """The lowest and highest delivery id of the time-ordered layout between two Unix-ms instants (inclusive)."""
    return _uuid7(since_millis, bytes(10)), _uuid7(until_millis, b"\xff" * 10)


def parked_event_id(message_id: str, sent_millis: int) -> str:
    """Stable per dead-lettered message, so parking the same message again overwrites instead of duplicating."""
    return _uuid7(sent_millis, hashlib.sha256(f"parked\x00{message_id}".encode()).digest())


def audit_entry_id(now_millis: int) -> str:
    """Time-ordered, so a workspace's audit log reads newest first by key."""
    return _uuid7(now_millis, os.urandom(10))
