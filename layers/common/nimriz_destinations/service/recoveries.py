"""Pause, resume and recovery of a destination's deliveries (design §2.2).

Pausing marks the destination: the dispatcher holds its deliveries (status `held`, their job kept on the record).
Resuming unmarks it and releases the held ones: a walk over the held index, oldest event first, a page at a time,
each page's jobs queued under their own delivery ids (reason `live`) on the released deliveries' FIFO queue, which
keeps them in that order per destination, the next page continued by a message on the
Recoveries queue. A scheduled sweep expires what paused destinations hold past HOLD_MAX_SECONDS the same way: an
expiry walk per paused destination queues its expired held deliveries, which the dispatcher dead-letters
`hold_expired` unsent. A recovery walks the delivery log between two instants the same way and queues every matching
delivery again with reason `replay`: a delivery waiting for its retry (`failed`) or held under its own id, a finished
one (dead-lettered, skipped) as a new delivery whose id is derived from the original's, so recovering it twice
queues the same delivery and its record sends it once. A delivery already `delivered` is never matched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from ..audit import Actor, Change, destination_target
from ..clock import iso_from_unix
from ..errors import Conflict, DestinationNotFound
from ..ids import recovered_delivery_id
from ..jobs import DeliveryJob
from ..observability import logger
from ..storage.deliveries import HELD, DeliveryLog
from ..storage.destinations import DestinationStore
from ..storage.queues import NotQueued
from ..storage.records import DestinationRecord, Workspace
from ..storage.recoveries import Criteria, Page, Recovery, RecoveryKind, RecoveryStore
from .audit import AuditLog

# Held deliveries released per page (queued in occurred_at order; the FIFO queue keeps it, design §2.2 "Order").
RELEASE_PAGE = 50
# Expired held deliveries an expiry page reads at most (index items), and paused destinations a sweep page starts.
EXPIRY_PAGE = 100
SWEEP_DESTINATIONS_PER_PAGE = 100
# A recovery that claimed no page for this long stopped (its messages failed): another may start.
RECOVERY_LEASE_SECONDS = 900
# Statuses a recovery re-queues under the delivery's own id; the others (finished) as a new delivery.
_SAME_DELIVERY = frozenset({"retrying", HELD})
# The API's names of the statuses a recovery matches: `failed` is a delivery whose last attempt failed and that waits
# for its next one (stored `retrying`).
RECOVERABLE_STATUSES = {"failed": "retrying", "dead_lettered": "dead_lettered", "skipped": "skipped", HELD: HELD}

SendJobs = Callable[[Sequence[DeliveryJob], bool], list[DeliveryJob]]  # (jobs, queued before?) -> refused
ReleaseJobs = Callable[[Sequence[DeliveryJob], bool, str], list[DeliveryJob]]  # (jobs, queued before?, release id)
ContinueWalk = Callable[[RecoveryKind, str, str, str, int], None]  # kind, workspace, destination, id, delay
ContinueSweep = Callable[[str], None]  # where the sweep's next page of paused destinations starts


class RecoveryRunning(Conflict):
    code = "RECOVERY_RUNNING"

    def __init__(self) -> None:
        super().__init__("A recovery of this destination is still running; try again once it has finished.")


@dataclass(frozen=True, slots=True)
class Started:
    """A recovery as the API answers it: what its first page found and queued (the rest continues)."""

    id: str
    matched: int
    queued: int


class RecoveryService:
    def __init__(
        self,
        destinations: DestinationStore,
        store: RecoveryStore,
        log: DeliveryLog,
        audit: AuditLog,
        send_jobs: SendJobs,
        release_jobs: ReleaseJobs,
        continue_walk: ContinueWalk,
        continue_sweep: ContinueSweep,
        *,
        hold_max_seconds: float,
        release_sweep_delay_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._destinations = destinations
        self._store = store
        self._log = log
        self._audit = audit
        self._send_jobs = send_jobs
        self._release_jobs = release_jobs  # to the FIFO queue: in occurred_at order per destination ("Order")
        self._continue_walk = continue_walk
        self._continue_sweep = continue_sweep
        self._hold_max_seconds = hold_max_seconds
        # After the last page, the release reads the index once more from the start this much later: a delivery held
        # while the resume began, which the index (eventually consistent) did not show yet, is released then.
        self._release_sweep_delay_seconds = release_sweep_delay_seconds
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def pause(self, workspace: Workspace, destination_id: str, *, actor: Actor) -> DestinationRecord:
        """Hold the destination's deliveries from now on; audited `destination.paused` unless it was paused already."""
        at = iso_from_unix(self._clock())
        pause = partial(self._destinations.pause, workspace.workspace_id, destination_id, at=at)
        return self._set_paused(workspace, destination_id, True, actor, pause)

    def resume(self, workspace: Workspace, destination_id: str, *, actor: Actor) -> DestinationRecord:
        """Send again from now on, and release what was held (its first page before answering); audited
        `destination.resumed` unless it was not paused. A repeated resume releases again (a release it replaces
        stopped), sending nothing twice."""
        resume = partial(self._destinations.resume, workspace.workspace_id, destination_id)
        record = self._set_paused(workspace, destination_id, False, actor, resume)
        release = self._new("release", workspace.workspace_id, destination_id, None)
        self._store.start(release, now=self._clock())
        self._step(release, token=release.id)
        return record

    def _set_paused(
        self,
        workspace: Workspace,
        destination_id: str,
        paused: bool,
        actor: Actor,
        change: Callable[[], DestinationRecord | None],
    ) -> DestinationRecord:
        """Make the change, audited (as PUT's changes are) when it changes the destination's `paused`."""
        current = self._destinations.get(workspace.workspace_id, destination_id, consistent=True)
        if current is None:
            raise DestinationNotFound()
        if current.paused == paused:  # a repeated call (or its retry): nothing changes, nothing to audit
            record = change()
        else:
            action = "destination.paused" if paused else "destination.resumed"
            changes = [Change("paused", current.paused, paused)]
            with self._audit.recorded(workspace.workspace_id, actor, action, destination_target(current), changes):
                record = change()
                if record is None:  # deleted meanwhile: the entry is withdrawn
                    raise DestinationNotFound()
        if record is None:
            raise DestinationNotFound()
        return record

    def recover(self, workspace: Workspace, destination_id: str, criteria: Criteria) -> Started:
        """Start a recovery and queue its first page; RecoveryRunning while another one runs for the destination."""
        if self._destinations.get(workspace.workspace_id, destination_id, consistent=False) is None:
            raise DestinationNotFound()
        recovery = self._new("recover", workspace.workspace_id, destination_id, criteria)
        if not self._store.start(recovery, now=self._clock()):
            raise RecoveryRunning()
        matched, queued = self._step(recovery, token=recovery.id) or (0, 0)
        return Started(recovery.id, matched, queued)

    def sweep(self, cursor: str | None = None) -> None:
        """Expire what paused destinations hold past HOLD_MAX_SECONDS (the schedule's call, then a Recoveries queue
        message per further page): a page of paused destinations from the sparse index, each given an expiry walk
        (its pages queued through the Recoveries queue), the next page continued the same way."""
        now = self._clock()
        paused, next_cursor = self._destinations.paused_destinations(limit=SWEEP_DESTINATIONS_PER_PAGE, cursor=cursor)
        for workspace_id, destination_id in paused:
            expiry = self._new("expire", workspace_id, destination_id, None)
            expiry.held_before = now - self._hold_max_seconds
            self._store.start(expiry, now=now)
            self._continue_walk("expire", workspace_id, destination_id, expiry.id, 0)
        if next_cursor is not None:
            self._continue_sweep(next_cursor)
        logger.info("paused destinations swept", extra={"destinations": len(paused), "more": next_cursor is not None})

    def continue_walk(
        self, kind: RecoveryKind, workspace_id: str, destination_id: str, walk_id: str, token: str
    ) -> None:
        """The next page of a walk, for a Recoveries queue message (`token`: its message id)."""
        recovery = self._store.get(kind, workspace_id, destination_id)
        if recovery is None or recovery.id != walk_id or recovery.finished:
            return  # replaced by a newer one, or done
        self._step(recovery, token=token)

    def _new(self, kind: RecoveryKind, workspace_id: str, destination_id: str, criteria: Criteria | None) -> Recovery:
        now = self._clock()
        return Recovery(
            kind, workspace_id, destination_id, str(uuid.uuid4()), iso_from_unix(now), criteria,
            lease_until=now + RECOVERY_LEASE_SECONDS,
        )  # fmt: skip

    def _step(self, recovery: Recovery, *, token: str) -> tuple[int, int] | None:
        """Claim, queue and continue one page; None when another claimer had it. A claimer whose message comes back
        after its claim (its token on the item) queues the same page again, as queued before."""
        redo = recovery.page_token == token
        page = self._page(recovery, recovery.page_start if redo else recovery.cursor)
        jobs, letters = self._jobs(recovery, page)
        next_cursor, sweeps, delay = page.next_cursor, recovery.sweeps, 0
        if next_cursor is None and recovery.kind == "release" and sweeps == 0:
            next_cursor, sweeps, delay = "", 1, self._release_sweep_delay_seconds
        finished = next_cursor is None
        if not redo and not self._store.claim(
            recovery, token=token, next_cursor=next_cursor or "", matched=len(page.found), queued=len(jobs),
            finished=finished, sweeps=sweeps, lease_until=self._clock() + RECOVERY_LEASE_SECONDS,
        ):  # fmt: skip
            return None
        if recovery.kind == "release":
            refused = self._release_jobs(jobs, redo, recovery.id)
        else:
            refused = self._send_jobs(jobs, redo)
        if refused:  # the message comes back and queues the page again
            raise NotQueued(f"{len(refused)} recovered delivery jobs were not accepted by SQS")
        if letters:  # only what was queued leaves the dead-letter store, as with replay
            self._log.delete_dead_letters(recovery.workspace_id, recovery.destination_id, letters)
        if not finished:
            self._continue_walk(recovery.kind, recovery.workspace_id, recovery.destination_id, recovery.id, delay)
        logger.info(
            f"{recovery.kind} page queued",
            extra={"destination_id": recovery.destination_id, "walk_id": recovery.id, "queued": len(jobs)},
        )
        return len(page.found), len(jobs)

    def _page(self, recovery: Recovery, start: str) -> Page:
        if recovery.kind == "release":
            return self._store.held_page(recovery, start=start, limit=RELEASE_PAGE)
        if recovery.kind == "expire":
            return self._store.expired_page(recovery, start=start, limit=EXPIRY_PAGE)
        page = self._store.log_page(recovery, start=start)
        # Only what existed when the recovery started: never the deliveries it made itself.
        page.found = [found for found in page.found if found.summary.created_at < recovery.started_at]
        return page

    def _jobs(self, recovery: Recovery, page: Page) -> tuple[list[DeliveryJob], list[str]]:
        """The page's jobs, and the dead letters they replace."""
        if recovery.kind != "recover":  # held deliveries, queued as they were held (expired ones are dead-lettered)
            return [DeliveryJob.model_validate_json(found.job) for found in page.found if found.job], []
        missing = [f.summary.delivery_id for f in page.found if f.job is None and f.summary.status == "dead_lettered"]
        letters = {
            letter.delivery_id: letter.job
            for letter in self._log.get_dead_letters(recovery.workspace_id, recovery.destination_id, missing)
        } if missing else {}  # fmt: skip
        jobs: list[DeliveryJob] = []
        replaced: list[str] = []
        now = iso_from_unix(self._clock())
        for found in page.found:
            summary = found.summary
            if found.job is not None:
                original = DeliveryJob.model_validate_json(found.job)
            elif summary.delivery_id in letters:
                original = DeliveryJob.model_validate(letters[summary.delivery_id])
            else:  # recorded before records kept their job (a skip): nothing to send it from
                continue
            if summary.status in _SAME_DELIVERY:
                jobs.append(original.model_copy(update={"reason": "replay"}))
                continue
            jobs.append(original.model_copy(update={
                "delivery_id": recovered_delivery_id(summary.delivery_id), "reason": "replay", "queued_at": now,
                "first_attempt": 1,
            }))  # fmt: skip
            if summary.status == "dead_lettered":
                replaced.append(summary.delivery_id)
        return jobs, replaced
