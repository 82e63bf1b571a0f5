"""What a dispatcher batch adds up to once its jobs are settled: each destination's health (one update per
destination, from what was sent), the customer counters (one update per action and hour) and the EMF metrics per
destination type (test-sends apart from live deliveries). All informational: none of it may delay or change a
delivery, so each waits only while the invocation has time."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from ..clock import iso_from_unix
from ..observability import DeliveryTally, emit_delivery_metrics, logger
from ..providers.base import API_VERSION_RETIRED, Verdict
from ..storage.counters import CounterKey, Counts, DeliveryCounters
from ..storage.deliveries import THROTTLED as WAITING_FOR_RATE
from .circuit import DestinationKey
from .health import HealthKeeper, SentOutcome
from .invocation import RETURN_MARGIN_SECONDS, Invocation


class Tallies:
    def __init__(
        self,
        health: HealthKeeper,
        counters: DeliveryCounters,
        bookkeeping: ThreadPoolExecutor,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._health = health
        self._counters = counters
        self._bookkeeping = bookkeeping
        self._clock = clock

    def record_health(self, invocation: Invocation) -> None:
        """Per destination, from what was sent in this batch. Skips say nothing about a destination's health, nor
        does a throttled answer: the provider's rate limit refused the request, the destination works (design §8.10),
        so it is neither a success nor a failure, and rate limiting alone never makes a destination failing."""
        sent: defaultdict[DestinationKey, list[SentOutcome]] = defaultdict(list)
        for (workspace_id, destination_id, action_id), results in invocation.outcomes.items():
            sent[(workspace_id, destination_id)] += [
                SentOutcome(
                    action_id,
                    delivered=result.outcome.verdict is Verdict.DELIVERED,
                    error_class=result.outcome.error_class,
                    http_status=result.http_status,
                )
                for result in results
                if result.outcome.verdict is not Verdict.SKIPPED and not result.outcome.throttled
            ]
        now = self._clock()
        updates = [
            self._bookkeeping.submit(
                self._health.record, *key, outcomes, now=now, at=iso_from_unix(now), read=invocation.states.get(key)
            )
            for key, outcomes in sent.items()
            if outcomes
        ]
        _settle(updates, invocation, "could not record destination health")

    def count(self, invocation: Invocation) -> None:
        """The batch's recorded outcomes as customer counters (one update per action) and EMF metrics per type."""
        counts: defaultdict[CounterKey, Counts] = defaultdict(Counts)
        live: defaultdict[str, DeliveryTally] = defaultdict(DeliveryTally)
        test_sends: defaultdict[str, DeliveryTally] = defaultdict(DeliveryTally)
        for entry, status, result in invocation.recorded:
            if status == WAITING_FOR_RATE:  # held back by the delivery rate: no request, no outcome (design §8.11)
                continue
            action = counts[(*entry.destination, entry.job.action_id)]
            # A throttled attempt is counted apart, never as failed (design §11).
            throttled = result.sent and result.outcome.throttled
            failed = result.sent and not throttled and result.outcome.verdict in (Verdict.RETRY, Verdict.PERMANENT)
            action.failed += failed
            action.throttled += throttled
            if status == "delivered":
                action.delivered += 1
            elif status == "retrying":
                action.retrying += not throttled
            elif status == "dead_lettered":
                action.dead_lettered += 1
            else:
                action.skipped += 1
            if result.sent and result.duration_ms is not None:
                action.observe_latency(result.duration_ms)
            destination_type = invocation.types.get(entry.destination)
            if destination_type is not None:
                latency = result.duration_ms if result.sent else None
                retired = result.outcome.error_class == API_VERSION_RETIRED
                tallies = test_sends if entry.job.reason == "test" else live
                tallies[destination_type].add(
                    status, failed=failed, throttled=throttled, latency_ms=latency, version_retired=retired
                )
        now = self._clock()
        writes = [self._bookkeeping.submit(self._counters.add, key, added, at=now) for key, added in counts.items()]
        _settle(writes, invocation, "could not add to the delivery counters")
        emit_delivery_metrics(live, test_sends=test_sends)


def _settle(futures: list[Future[None]], invocation: Invocation, failure: str) -> None:
    """Wait for informational writes while the invocation lasts; a failed or unfinished one is logged, no more."""
    done, unfinished = wait_for(futures, timeout=max(0.0, invocation.time_left() - RETURN_MARGIN_SECONDS))
    for future in done:
        try:
            future.result()
        except Exception:
            logger.exception(failure)
    if unfinished:
        logger.warning(failure + " in time", extra={"unfinished": len(unfinished)})
