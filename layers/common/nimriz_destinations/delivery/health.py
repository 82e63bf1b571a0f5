"""Destination health, kept after every dispatcher batch: healthy -> failing -> disabled, and back.

- Each batch's sends are counted on the destination item in one update (per action and for the destination: last
  success, last failure, the run of failed attempts; any delivered event ends the run). Throttled attempts are not
  given to it (`delivery/tallies.py`): a provider's rate limit is neither a success nor a failure of the destination.
  A batch of successes only, on a destination that was healthy with no failure run when the batch read it, and whose
  last success (its own and each action's) is under `SUCCESS_REFRESH_SECONDS` old, changes nothing but that time and
  writes nothing: an update costs the whole destination item, and a busy destination's batches would otherwise
  rewrite it many times a second in its workspace's partition (docs/cost.md). So `last_success_at` is at most that
  much behind.
- `failing` once a run reaches `failing_after_failures`; `healthy` again after a success (`recovered`).
- `disabled` automatically when the run has lasted `disable_after_seconds` with at least `disable_min_failures`
  failed attempts, or at once when a webhook answers 410 Gone: the destination's `enabled` becomes false in a new
  version of its document, so its jobs are skipped from then on; the audit log records it (actor `system`).
  Re-enabling it (PUT) makes it healthy again.
- Every transition of the destination is made by one conditional write, so exactly one dispatcher makes it and
  publishes its operational notice (`destination.failing`, `destination.disabled`, `destination.recovered`).
  Actions have the same failing/healthy states (no notices); they are disabled with their destination.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit import SYSTEM, Change, destination_snapshot, destination_target, diff
from ..notices import DISABLED, FAILING, RECOVERED, notice_event
from ..observability import logger
from ..service.audit import AuditLog
from ..storage.destinations import DestinationState, DestinationStore, SentTally
from ..storage.records import DestinationRecord, HealthState

ENDPOINT_GONE = "endpoint_gone"  # generic_http's class for 410 Gone
# How far behind a healthy destination's `last_success_at` may be (see above).
SUCCESS_REFRESH_SECONDS = 60.0

PublishNotices = Callable[[Sequence[dict[str, Any]]], None]


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    failing_after_failures: int
    disable_after_seconds: float
    disable_min_failures: int


@dataclass(frozen=True, slots=True)
class SentOutcome:
    """One delivery attempt that reached the destination, as health sees it."""

    action_id: str
    delivered: bool
    error_class: str | None = None
    http_status: int | None = None


class HealthKeeper:
    def __init__(self, store: DestinationStore, policy: HealthPolicy, publish: PublishNotices, audit: AuditLog) -> None:
        self._store = store
        self._policy = policy
        self._publish = publish
        self._audit = audit

    def record(
        self,
        workspace_id: str,
        destination_id: str,
        outcomes: Sequence[SentOutcome],
        *,
        now: float,
        at: str,
        read: DestinationState | None = None,
    ) -> None:
        """Count one batch's attempts for one destination, then make the transitions they call for; nothing when
        they change only a recent success's time on the destination as `read` at the batch's start."""
        if read is not None and _only_refresh_success(read, outcomes, now):
            return
        delivered: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        for outcome in outcomes:
            (delivered if outcome.delivered else failed)[outcome.action_id] += 1
        tallies = {
            action_id: SentTally(delivered=delivered[action_id], failed=failed[action_id])
            for action_id in dict.fromkeys(outcome.action_id for outcome in outcomes)
        }
        after = self._store.record_sent(workspace_id, destination_id, tallies, at=at)
        if after is None:  # deleted meanwhile
            return
        for action_id in tallies:
            self._action_transition(after, action_id, at)
        failures = [outcome for outcome in outcomes if not outcome.delivered]
        # The failure a notice names: 410 Gone when there was one, otherwise the last one seen.
        failure = next((f for f in failures if f.error_class == ENDPOINT_GONE), failures[-1] if failures else None)
        notice = self._destination_transition(after, failure, now=now, at=at)
        if notice is None:
            return
        logger.info("destination health changed", extra={"destination_id": destination_id, "notice": notice["type"]})
        try:
            self._publish([notice])
        except Exception:  # the transition stands (it shows in the API); only its notice is lost
            logger.exception("could not publish an operational notice", extra={"notice_id": notice["id"]})

    def _action_transition(self, record: DestinationRecord, action_id: str, at: str) -> None:
        health = record.health.get(action_id)
        if health is None:
            return
        threshold = self._policy.failing_after_failures
        args = (record.workspace_id, record.id, action_id)
        if not health.failing and health.consecutive_failures >= threshold:
            self._store.mark_failing(*args, at=at, threshold=threshold)
        elif health.failing and health.consecutive_failures < threshold:
            self._store.mark_recovered(*args, at=at, threshold=threshold)

    def _destination_transition(
        self, record: DestinationRecord, failure: SentOutcome | None, *, now: float, at: str
    ) -> dict[str, Any] | None:
        health = record.destination_health
        if health.state == "disabled":  # only a re-enable (PUT) makes it healthy again
            return None
        error_class = failure.error_class if failure else None
        http_status = failure.http_status if failure else None
        reason = self._disable_reason(record, failure, now=now)
        if reason is not None:
            disabled = self._auto_disable(record, reason, at)
            if disabled is None:
                return None
            return notice_event(disabled, DISABLED, last_error_class=error_class, last_http_status=http_status)
        threshold = self._policy.failing_after_failures
        args = (record.workspace_id, record.id, None)
        if health.state == "healthy" and health.consecutive_failures >= threshold:
            if not self._store.mark_failing(*args, at=at, threshold=threshold):
                return None  # another dispatcher made this transition
            failing = _entered(record, "failing", at)
            return notice_event(failing, FAILING, last_error_class=error_class, last_http_status=http_status)
        if health.state == "failing" and health.consecutive_failures < threshold:
            if not self._store.mark_recovered(*args, at=at, threshold=threshold):
                return None
            healthy = _entered(record, "healthy", at)
            return notice_event(healthy, RECOVERED, last_error_class=None, last_http_status=None)
        return None

    def _auto_disable(self, record: DestinationRecord, reason: str, at: str) -> DestinationRecord | None:
        """Disable the destination, audited as a change by `system` (the entry first, withdrawn when another
        dispatcher or a PUT made the change unnecessary)."""
        after = dataclasses.replace(record, enabled=False)
        changes = [
            *diff(destination_snapshot(record), destination_snapshot(after)),
            Change("disabled_reason", None, reason),
        ]
        target = destination_target(record)
        with self._audit.recorded(record.workspace_id, SYSTEM, "destination.disabled", target, changes) as entry:
            disabled = self._store.auto_disable(record.workspace_id, record.id, reason=reason, at=at)
            if disabled is None:
                self._audit.withdraw(entry)
        return disabled

    def _disable_reason(self, record: DestinationRecord, failure: SentOutcome | None, *, now: float) -> str | None:
        if failure is not None and failure.error_class == ENDPOINT_GONE:
            return "The endpoint answered 410 Gone: it no longer accepts deliveries."
        health = record.destination_health
        if health.run_started_at is None or health.consecutive_failures < self._policy.disable_min_failures:
            return None
        failing_for = now - datetime.fromisoformat(health.run_started_at).timestamp()
        if failing_for < self._policy.disable_after_seconds:
            return None
        return (
            f"No successful delivery since {health.run_started_at} "
            f"({health.consecutive_failures} failed attempts in a row)."
        )


def _only_refresh_success(read: DestinationState, outcomes: Sequence[SentOutcome], now: float) -> bool:
    """Whether the batch's attempts, all delivered, leave the destination and each of their actions healthy, with
    no failure run, and with a last success under SUCCESS_REFRESH_SECONDS old, as they were read."""
    if not all(outcome.delivered for outcome in outcomes) or read.health.state != "healthy":
        return False
    actions = [read.action_health.get(action_id) for action_id in {outcome.action_id for outcome in outcomes}]
    if any(action is None or action.failing for action in actions):
        return False
    return all(
        state is not None
        and not state.consecutive_failures
        and state.last_success_at is not None
        and now - datetime.fromisoformat(state.last_success_at).timestamp() < SUCCESS_REFRESH_SECONDS
        for state in (read.health, *actions)
    )


def _entered(record: DestinationRecord, state: HealthState, at: str) -> DestinationRecord:
    """`record` with the destination's health in `state` since `at` (what a transition just wrote)."""
    health = dataclasses.replace(record.destination_health, state=state, since=at)
    return dataclasses.replace(record, destination_health=health)
