"""Fan-out: one canonical event in, one delivery job per matching action out.

Invalid events are reported (and dead-lettered by the caller with their reason) instead of retried forever.
Live delivery ids are derived from (event id, action id): fanning the same event out twice produces the same
jobs, which the dispatcher's idempotency check turns into a single send, so a failure to enqueue one job can
safely re-run the whole event without re-sending to the other actions.

An operational notice (`destination.*`) is routed like any event, except never to the destination it is about.
Disabled actions and the actions of disabled destinations are evaluated too, and queue nothing: what they would
have matched is counted for the volume estimate (`matched_disabled`). Each batch's verdicts are added to the customer
counters (`matched`, `filtered_out`, `matched_disabled`): one update per action with a count, however many events.

A batch is shared between its workspaces (design §2, `FanOutBatch`): they take turns, and a workspace that has
spent its share of the batch routing (evaluating its filters) has its remaining events deferred to a later batch
instead of delaying the others.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..canonical_event import validate_canonical_event
from ..clock import iso_from_unix
from ..ids import live_delivery_id
from ..jobs import DeliveryJob
from ..notices import is_notice
from ..observability import logger
from ..providers import get_provider
from ..providers.common import epoch_millis
from ..storage.counters import CounterKey, Counts, DeliveryCounters
from .config import CompiledActions, DestinationConfigs


class InvalidEvent(ValueError):
    """The body is not a canonical event v1; `str()` says why (customer-safe). `event_id`: the id the body claims,
    when it is a JSON object with a string `id` (for logs)."""

    def __init__(self, reason: str, *, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.event_id = event_id


class EventDeferred(Exception):
    """The event's workspace has spent its share of this batch routing: the event goes back to the queue."""

    def __init__(self, workspace_id: str, spent_seconds: float, share_seconds: float) -> None:
        super().__init__(
            f"workspace {workspace_id} spent {spent_seconds:.3f} s routing events in this batch, its share is "
            f"{share_seconds:g} s: its remaining events go to a later batch"
        )
        self.workspace_id = workspace_id


# Concurrent counter updates per batch (one per action the batch's events reached).
_COUNTER_THREADS = 8


@dataclass(slots=True)
class Routing:
    workspace_id: str
    event_id: str
    jobs: list[DeliveryJob] = field(default_factory=list)
    # (destination id, action id) -> the filter rule that rejected the event
    rejected: dict[tuple[str, str], str] = field(default_factory=dict)
    # (destination id, action id) of the disabled actions (or actions of disabled destinations) the event matched
    matched_disabled: list[tuple[str, str]] = field(default_factory=list)
    # Matches not queued because the event reached the workspace's `deliveries_per_event` quota (quotas.py).
    over_quota: int = 0
    # Time spent matching the event against its workspace's actions (configs and quotas already loaded): its
    # filters' cost, disabled actions' included.
    routing_seconds: float = 0.0


class FanOut:
    def __init__(
        self,
        configs: DestinationConfigs,
        compiled: CompiledActions,
        counters: DeliveryCounters,
        *,
        workspace_share_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configs = configs
        self._compiled = compiled
        self._counters = counters
        self._workspace_share_seconds = workspace_share_seconds
        self._clock = clock
        self._counting = ThreadPoolExecutor(max_workers=_COUNTER_THREADS, thread_name_prefix="count")

    def batch(self, messages: Sequence[tuple[str, str]]) -> FanOutBatch:
        """(message id, body) of one LiveEvents batch, scheduled fairly between its workspaces."""
        return FanOutBatch(messages, parse=self.parse, route=self.route, share_seconds=self._workspace_share_seconds)

    def parse(self, body: str) -> dict[str, Any]:
        """The canonical event in `body`; InvalidEvent for anything else, whatever the body holds."""
        try:
            event: dict[str, Any] = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidEvent(f"not JSON: {exc.msg}") from None
        except RecursionError:  # e.g. a body of 100,000 "[": the decoder gives up before the schema could
            raise InvalidEvent("not JSON: nested too deeply") from None
        problems = validate_canonical_event(event)
        if problems:
            claimed = event.get("id") if isinstance(event, dict) else None
            raise InvalidEvent("; ".join(problems), event_id=claimed if isinstance(claimed, str) else None)
        return event

    def route(self, event: dict[str, Any]) -> Routing:
        routing = Routing(event["workspace_id"], event["id"])
        queued_at = iso_from_unix(self._clock())
        occurred_millis = epoch_millis(event)
        about = event["notice"]["destination_id"] if is_notice(event) else None
        destinations = self._configs.for_workspace(event["workspace_id"])
        limit = self._configs.quotas(event["workspace_id"]).deliveries_per_event  # I/O: not the filters' cost
        started = time.perf_counter()
        for destination in destinations:
            if not get_provider(destination.type).delivers or destination.id == about:
                continue
            for action in destination.actions:
                verdict = self._compiled.filter(destination, action).evaluate(event)
                if not (destination.enabled and action.enabled):
                    # Counted for the estimate only: a rejection is not, so a quiet disabled action writes nothing.
                    if verdict.passed:
                        routing.matched_disabled.append((destination.id, action.id))
                    continue
                if not verdict.passed:
                    routing.rejected[(destination.id, action.id)] = verdict.rejected_by or "filter"
                    continue
                routing.jobs.append(
                    DeliveryJob(
                        delivery_id=live_delivery_id(event["id"], action.id, occurred_millis),
                        workspace_id=event["workspace_id"],
                        organization_id=event["organization_id"],
                        destination_id=destination.id,
                        action_id=action.id,
                        reason="live",
                        event=event,
                        queued_at=queued_at,
                    )
                )
        # Saves are checked against the quota; this holds it when an admin lowered it below what is configured.
        if len(routing.jobs) > limit:
            routing.over_quota = len(routing.jobs) - limit
            del routing.jobs[limit:]
        routing.routing_seconds = time.perf_counter() - started
        return routing

    def count(self, routings: Iterable[Routing]) -> None:
        """Add the events' verdicts to the counters: one update per action, however many events a batch had."""
        counts: defaultdict[CounterKey, Counts] = defaultdict(Counts)
        for routing in routings:
            for job in routing.jobs:
                counts[(job.workspace_id, job.destination_id, job.action_id)].matched += 1
            for destination_id, action_id in routing.rejected:
                counts[(routing.workspace_id, destination_id, action_id)].filtered_out += 1
            for destination_id, action_id in routing.matched_disabled:
                counts[(routing.workspace_id, destination_id, action_id)].matched_disabled += 1
        now = self._clock()
        writes = [self._counting.submit(self._counters.add, key, added, at=now) for key, added in counts.items()]
        for write in writes:
            try:
                write.result()
            except Exception:  # counters are informational: the events were fanned out
                logger.exception("could not add to the delivery counters")


class FanOutBatch:
    """One LiveEvents batch shared fairly between its workspaces (design §2).

    Each message is parsed once, up front, to know its workspace. Workspaces take turns (round-robin in order of
    first appearance, each workspace's events in arrival order), so one workspace's events never all go before
    another's. A workspace that has spent `share_seconds` routing has its remaining events deferred
    (`EventDeferred`: the caller returns them to the queue, for a later batch) instead of delaying the others; an
    event already started runs to its end, so a workspace can overrun its share by one event. A message that
    cannot be parsed is its own turn and fails alone when routed, as before.
    """

    def __init__(
        self,
        messages: Sequence[tuple[str, str]],
        *,
        parse: Callable[[str], dict[str, Any]],
        route: Callable[[dict[str, Any]], Routing],
        share_seconds: float,
    ) -> None:
        self._route = route
        self._share_seconds = share_seconds
        self._spent: defaultdict[str, float] = defaultdict(float)
        self._parsed: dict[str, dict[str, Any] | Exception] = {}
        turns: dict[str | None, deque[str]] = {}
        for message_id, body in messages:
            try:
                event: dict[str, Any] | Exception = parse(body)
            except Exception as error:  # kept for this message's turn: it fails alone, the batch goes on
                event = error
            self._parsed[message_id] = event
            workspace_id = None if isinstance(event, Exception) else event["workspace_id"]
            turns.setdefault(workspace_id, deque()).append(message_id)
        self.order: list[str] = []
        while turns:
            for workspace_id in list(turns):
                self.order.append(turns[workspace_id].popleft())
                if not turns[workspace_id]:
                    del turns[workspace_id]

    def event_id(self, message_id: str) -> str | None:
        """The id of the message's event, or the id an invalid one claims (for logs); None when there is none."""
        event = self._parsed[message_id]
        if isinstance(event, InvalidEvent):
            return event.event_id
        return None if isinstance(event, Exception) else str(event["id"])

    def route(self, message_id: str) -> Routing:
        """The message's routing; raises what parsing it raised, or EventDeferred."""
        event = self._parsed[message_id]
        if isinstance(event, Exception):
            raise event
        workspace_id = event["workspace_id"]
        if self._spent[workspace_id] >= self._share_seconds:
            raise EventDeferred(workspace_id, self._spent[workspace_id], self._share_seconds)
        routing = self._route(event)
        self._spent[workspace_id] += routing.routing_seconds
        return routing
