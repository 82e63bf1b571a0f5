"""Delivery log, dead letters and replay, as the API exposes them (always scoped to a destination of the workspace
named: the caller's own, or the one an operator acts for through the admin API)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..audit import Actor, Change, Target, state_changes
from ..clock import parse_rfc3339, utc_now
from ..errors import DestinationNotFound, NotFound, Problem, ValidationFailed
from ..event_fields import CANONICAL_EVENT_TYPES
from ..ids import new_delivery_id
from ..jobs import DeliveryJob
from ..storage.deliveries import AttemptRecord, DeadLetter, DeliveryLog, DeliverySearch, DeliverySummary
from ..storage.destinations import DestinationStore
from .audit import AuditLog

MAX_REPLAY = 500


class DeliveryNotFound(NotFound):
    code = "DELIVERY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No delivery with this id exists for this destination.")


@dataclass(frozen=True, slots=True)
class Replayed:
    dead_letter_id: str
    delivery_id: str
    event_id: str
    action_id: str


class DeliveryService:
    def __init__(
        self,
        destinations: DestinationStore,
        log: DeliveryLog,
        send_jobs: Callable[[list[DeliveryJob]], list[DeliveryJob]],
        audit: AuditLog,
    ) -> None:
        self._destinations = destinations
        self._log = log
        self._send_jobs = send_jobs
        self._audit = audit

    def _require_destination(self, workspace_id: str, destination_id: str) -> None:
        if self._destinations.get(workspace_id, destination_id, consistent=False) is None:
            raise DestinationNotFound()

    def list_deliveries(
        self,
        workspace_id: str,
        destination_id: str,
        *,
        limit: int,
        cursor: str | None,
        action_id: str | None = None,
        status: str | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> tuple[list[DeliverySummary], str | None]:
        """One page of the destination's deliveries the filters keep, newest first (design §3, "Searching the
        delivery log"); `since` and `until` are RFC 3339 texts."""
        problems: list[Problem] = []
        bounds: dict[str, datetime | None] = {}
        for name, text in (("since", since), ("until", until)):
            try:
                bounds[name] = parse_rfc3339(text) if text is not None else None
            except ValueError as invalid:
                problems.append(Problem(f"query.{name}", str(invalid)))
        start, end = bounds.get("since"), bounds.get("until")
        if start is not None and end is not None and end <= start:
            problems.append(Problem("query.until", "must be later than since"))
        if event_type is not None and event_type not in CANONICAL_EVENT_TYPES:
            problems.append(Problem("query.event_type", f"must be one of {', '.join(CANONICAL_EVENT_TYPES)}"))
        if problems:
            raise ValidationFailed("The search has invalid fields.", problems)
        self._require_destination(workspace_id, destination_id)
        search = DeliverySearch(action_id, status, event_id, event_type, start, end)
        return self._log.list_deliveries(workspace_id, destination_id, search, limit=limit, cursor=cursor)

    def get_delivery(
        self, workspace_id: str, destination_id: str, delivery_id: str
    ) -> tuple[DeliverySummary, list[AttemptRecord]]:
        self._require_destination(workspace_id, destination_id)
        found = self._log.get_delivery(workspace_id, destination_id, delivery_id)
        if found is None:
            raise DeliveryNotFound()
        return found

    def list_dead_letters(
        self, workspace_id: str, destination_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[DeadLetter], str | None]:
        self._require_destination(workspace_id, destination_id)
        return self._log.list_dead_letters(workspace_id, destination_id, limit=limit, cursor=cursor)

    def replay(
        self, workspace_id: str, destination_id: str, ids: Sequence[str] | None, *, operator: Actor | None = None
    ) -> list[Replayed]:
        """Re-queue dead letters (all, or the given ids) with the same event and reason `replay`.

        A workspace's own replays show in its delivery log (reason `replay`); one an `operator` makes for it through
        the admin API is also audited in its audit log, so the customer sees who acted for them."""
        self._require_destination(workspace_id, destination_id)
        if ids is None:
            letters, _ = self._log.list_dead_letters(workspace_id, destination_id, limit=MAX_REPLAY, cursor=None)
        else:
            letters = self._log.get_dead_letters(workspace_id, destination_id, ids)
            unknown = sorted(set(ids) - {letter.delivery_id for letter in letters})
            if unknown:
                problems = [Problem(f"ids[{list(ids).index(i)}]", "no dead letter with this id") for i in unknown]
                raise ValidationFailed("Some ids are not dead letters of this destination.", problems)
        jobs = [self._replay_job(letter) for letter in letters]
        target = Target("destination", destination_id)
        replaying = _replayed(letter.delivery_id for letter in letters)
        with self._audit.recorded_if(operator, workspace_id, "dead_letters.replayed", target, replaying) as entry:
            failed = {job.delivery_id for job in self._send_jobs(jobs)}
        replayed = [
            Replayed(letter.delivery_id, job.delivery_id, letter.event_id, letter.action_id)
            for letter, job in zip(letters, jobs, strict=True)
            if job.delivery_id not in failed
        ]
        if entry is not None:
            self._audit.narrow(entry, _replayed(r.dead_letter_id for r in replayed))
        # Only what was queued leaves the dead-letter store; the rest stays replayable.
        self._log.delete_dead_letters(workspace_id, destination_id, [r.dead_letter_id for r in replayed])
        return replayed

    def _replay_job(self, letter: DeadLetter) -> DeliveryJob:
        original = DeliveryJob.model_validate(letter.job)
        # A new delivery (its own log entry and attempts) of the same event, under the current configuration.
        return original.model_copy(
            update={
                "delivery_id": new_delivery_id(int(time.time() * 1000)),
                "reason": "replay",
                "queued_at": utc_now(),
            }
        )


def _replayed(dead_letter_ids: Iterable[str]) -> list[Change]:
    return state_changes("dead_letters", dead_letter_ids, "dead_lettered", "replayed")
