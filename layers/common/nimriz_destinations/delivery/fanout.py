"""Fan-out: one canonical event in, one delivery job per matching action out.

Invalid events are reported (and dead-lettered by the caller with their reason) instead of retried forever.
Live delivery ids are derived from (event id, action id): fanning the same event out twice produces the same
jobs, which the dispatcher's idempotency check turns into a single send, so a failure to enqueue one job can
safely re-run the whole event without re-sending to the other actions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..canonical_event import validate_canonical_event
from ..ids import live_delivery_id
from ..jobs import DeliveryJob
from ..providers import get_provider
from ..providers.common import epoch_millis
from .config import CompiledActions, DestinationConfigs
from .dispatcher import iso


class InvalidEvent(ValueError):
    """The message is not a canonical event v1; `reason` says why (customer-safe)."""


@dataclass(slots=True)
class Routing:
    jobs: list[DeliveryJob] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # action id -> filter rule that rejected the event


class FanOut:
    def __init__(
        self, configs: DestinationConfigs, compiled: CompiledActions, clock: Callable[[], float] = time.time
    ) -> None:
        self._configs = configs
        self._compiled = compiled
        self._clock = clock

    def parse(self, body: str) -> dict[str, Any]:
        try:
            event: dict[str, Any] = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidEvent(f"not JSON: {exc.msg}") from None
        problems = validate_canonical_event(event)
        if problems:
            raise InvalidEvent("; ".join(problems))
        return event

    def route(self, event: dict[str, Any]) -> Routing:
        routing = Routing()
        queued_at = iso(self._clock())
        occurred_millis = epoch_millis(event)
        for destination in self._configs.for_workspace(event["workspace_id"]):
            if not destination.enabled or not get_provider(destination.type).delivers:
                continue
            for action in destination.actions:
                if not action.enabled:
                    continue
                verdict = self._compiled.filter(destination, action).evaluate(event)
                if not verdict.passed:
                    routing.rejected[action.id] = verdict.rejected_by or "filter"
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
        return routing
