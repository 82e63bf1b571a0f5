"""Parked events: live events fan-out could not handle (invalid ones, and ones it kept failing on until SQS
redrove them to the LiveEvents DLQ), kept per workspace with their reason, listed, and recovered onto the
LiveEvents queue with their original body, so fan-out derives the same delivery ids and never sends twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..audit import Actor, Change, Target, state_changes
from ..clock import utc_now
from ..errors import Problem, ValidationFailed
from ..ids import parked_event_id
from ..storage.parked_events import ParkedEvent, ParkedEventStore
from .audit import AuditLog

MAX_RECOVER = 500
# DynamoDB items stop at 400 KB: bodies up to the classic SQS message size are kept whole, larger ones (SQS
# now accepts up to 1 MiB) are parked without their body, visible but not recoverable.
MAX_KEPT_BODY_BYTES = 256 * 1024
_MAX_FIELD_CHARS = 200  # longer ids/types/workspaces are not what the edge sends: not trusted as such
_MAX_REASON_CHARS = 1000
# How the reason of an event fan-out found invalid starts, before its problem ("occurred_at: must be a real
# date and time (…)"), so it reads apart from "fan-out failed N times".
INVALID_EVENT = "invalid_event"


@dataclass(frozen=True, slots=True)
class DeadLetteredEvent:
    """One LiveEvents DLQ message."""

    message_id: str
    body: str
    receive_count: int  # SQS's ApproximateReceiveCount: carried over from the LiveEvents queue on redrive
    sent_millis: int
    invalid_reason: str | None  # fan-out's `reason` attribute: set only on events it found invalid
    source_message_id: str | None  # fan-out's attribute: the LiveEvents message an invalid event came in


class ParkedEventService:
    def __init__(self, store: ParkedEventStore, send_events: Callable[[list[str]], list[int]], audit: AuditLog) -> None:
        self._store = store
        # Queues raw event bodies on the LiveEvents queue; returns the indexes SQS did not accept.
        self._send_events = send_events
        self._audit = audit

    def park(self, message: DeadLetteredEvent) -> ParkedEvent:
        """Keep one dead-lettered event, under its workspace when its body names one."""
        attributed = _attribution(message.body)
        size = len(message.body.encode())
        reason = _parked_reason(message)
        if size > MAX_KEPT_BODY_BYTES:
            reason += f"; its body ({size} bytes) was too large to keep, so it cannot be recovered"
        event = ParkedEvent(
            id=parked_event_id(message.message_id, message.sent_millis),
            workspace_id=attributed.get("workspace_id"),
            event_id=attributed.get("id"),
            event_type=attributed.get("type"),
            reason=reason,
            receive_count=message.receive_count,
            source_message_id=message.source_message_id or message.message_id,
            parked_at=utc_now(),
            body=message.body if size <= MAX_KEPT_BODY_BYTES else None,
        )
        self._store.put(event)
        return event

    def list_parked(self, workspace_id: str, *, limit: int, cursor: str | None) -> tuple[list[ParkedEvent], str | None]:
        return self._store.list_page(workspace_id, limit=limit, cursor=cursor)

    def recover(
        self, workspace_id: str, ids: Sequence[str] | None, *, operator: Actor | None = None
    ) -> list[ParkedEvent]:
        """Queue parked events (all recoverable ones up to 500, or the given ids) on the LiveEvents queue again;
        only those SQS accepted leave the store. A recovery an `operator` makes for the workspace through the admin
        API is audited in its audit log, as they."""
        if ids is None:
            events = [e for e in self._store.newest(workspace_id, limit=MAX_RECOVER) if e.body is not None]
        else:
            wanted = list(dict.fromkeys(ids))
            found = {event.id: event for event in self._store.get_many(workspace_id, wanted)}
            _require_recoverable(ids, found)
            events = [found[i] for i in wanted]
        queueable = [(event, event.body) for event in events if event.body is not None]
        target = Target("workspace", workspace_id)
        recovering = _recovered(event for event, _ in queueable)
        with self._audit.recorded_if(operator, workspace_id, "parked_events.recovered", target, recovering) as entry:
            failed = set(self._send_events([body for _, body in queueable]))
        recovered = [event for index, (event, _) in enumerate(queueable) if index not in failed]
        if entry is not None:
            self._audit.narrow(entry, _recovered(recovered))
        self._store.delete(workspace_id, [event.id for event in recovered])
        return recovered


def _recovered(events: Iterable[ParkedEvent]) -> list[Change]:
    return state_changes("parked_events", (event.id for event in events), "parked", "recovered")


def _require_recoverable(ids: Sequence[str], found: dict[str, ParkedEvent]) -> None:
    problems = []
    for index, parked_id in enumerate(ids):
        event = found.get(parked_id)
        if event is None:
            problems.append(Problem(f"ids[{index}]", "no parked event with this id"))
        elif event.body is None:
            problems.append(Problem(f"ids[{index}]", "its body was too large to keep; it cannot be recovered"))
    if problems:
        raise ValidationFailed("Some ids cannot be recovered.", problems)


def _parked_reason(message: DeadLetteredEvent) -> str:
    if message.invalid_reason:
        return f"{INVALID_EVENT}: {message.invalid_reason}"[:_MAX_REASON_CHARS]
    return _redrive_reason(message.receive_count)


def _redrive_reason(receive_count: int) -> str:
    # SQS keeps the receive count when it redrives a message; the receive that handed it to the DLQ consumer
    # is one more on top of fan-out's failed ones.
    failures = receive_count - 1
    return f"fan-out failed {failures} times" if failures > 0 else "fan-out failed"


def _attribution(body: str) -> dict[str, str]:
    """The workspace, id and type the body names, where they are plausible strings."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the decoder goes: no one to name
        return {}
    if not isinstance(event, dict):
        return {}
    return {
        name: value
        for name in ("workspace_id", "id", "type")
        if isinstance(value := event.get(name), str) and 0 < len(value) <= _MAX_FIELD_CHARS
    }
