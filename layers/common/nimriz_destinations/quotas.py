"""Per-workspace quotas: how much one workspace may configure, so what it is allowed to do stays bounded for
everyone sharing the fan-out and the dispatchers (design §9.5).

Three quotas, each with a default an admin may change per workspace (`GET|PUT /admin/workspaces/{id}/quotas`):
`destinations`, `actions` (all destinations together) and `deliveries_per_event` (how many deliveries one event
may fan out to). A workspace's usage counts every action, enabled or not: switching one on is a save like any
other, but an automatic disable is not, and a count that ignored disabled actions would drift with it. An
action counts towards `deliveries_per_event` for each event type its filter's type lists let through (what one
event of that type can reach; conditions are not considered), operational notices only where it lists them.

A save is refused only for what it adds: a workspace over a quota an admin lowered can still change, shrink or
delete what it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from .errors import Problem, QuotaExceeded
from .event_fields import CANONICAL_EVENT_TYPES, NOTICE_EVENT_TYPES
from .filters import EventFilter
from .providers import get_provider
from .storage.records import DestinationRecord

QUOTA_NAMES = ("destinations", "actions", "deliveries_per_event")
QUOTA_CEILING = 10_000  # the most an admin may set any quota to: beyond it, the per-event and per-save costs grow


@dataclass(frozen=True, slots=True)
class Quotas:
    destinations: int = 50
    actions: int = 250
    deliveries_per_event: int = 100

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in QUOTA_NAMES}


DEFAULT_QUOTAS = Quotas()


@dataclass(frozen=True, slots=True)
class Usage:
    """What a workspace (or one destination of it) takes of its quotas."""

    destinations: int = 0
    actions: int = 0
    # Event type -> how many deliveries one event of that type can fan out to.
    deliveries_per_event_type: Mapping[str, int] = field(default_factory=dict)

    def plus(self, other: Usage, sign: int = 1) -> Usage:
        types = self.deliveries_per_event_type.keys() | other.deliveries_per_event_type.keys()
        return Usage(
            destinations=self.destinations + sign * other.destinations,
            actions=self.actions + sign * other.actions,
            deliveries_per_event_type={
                t: self.deliveries_per_event_type.get(t, 0) + sign * other.deliveries_per_event_type.get(t, 0)
                for t in sorted(types)
            },
        )

    def minus(self, other: Usage) -> Usage:
        return self.plus(other, -1)

    @property
    def is_zero(self) -> bool:
        return not (self.destinations or self.actions or any(self.deliveries_per_event_type.values()))


def usage_of(record: DestinationRecord | None) -> Usage:
    """What one destination takes; nothing for None (before a create, after a delete)."""
    if record is None:
        return Usage()
    per_type = dict.fromkeys(CANONICAL_EVENT_TYPES, 0)
    if get_provider(record.type).delivers:
        for action in record.actions:
            for event_type in reachable_event_types(EventFilter.model_validate(action.event_filter)):
                per_type[event_type] += 1
    return Usage(destinations=1, actions=len(record.actions), deliveries_per_event_type=per_type)


def usage_of_all(records: Iterable[DestinationRecord]) -> Usage:
    total = Usage(deliveries_per_event_type=dict.fromkeys(CANONICAL_EVENT_TYPES, 0))
    for record in records:
        total = total.plus(usage_of(record))
    return total


def reachable_event_types(event_filter: EventFilter) -> list[str]:
    """The event types whose events can pass `event_filter`'s type lists (design §6: notices only when listed)."""
    listed = set(event_filter.include.event_types)
    return [
        event_type
        for event_type in CANONICAL_EVENT_TYPES
        if event_filter.can_match_any([event_type]) and (event_type not in NOTICE_EVENT_TYPES or event_type in listed)
    ]


def check_change(quotas: Quotas, usage: Usage, change: Usage) -> None:
    """Raise QuotaExceeded when `change` would take `usage` over a quota in a dimension it increases."""
    problems: list[Problem] = []
    for name in ("destinations", "actions"):
        added, used, limit = getattr(change, name), getattr(usage, name), getattr(quotas, name)
        if added > 0 and used + added > limit:
            problems.append(
                Problem(f"quotas.{name}", f"the limit is {limit} {name} per workspace; this would make {used + added}")
            )
    for event_type, added in change.deliveries_per_event_type.items():
        reached = usage.deliveries_per_event_type.get(event_type, 0) + added
        if added > 0 and reached > quotas.deliveries_per_event:
            problems.append(
                Problem(
                    "quotas.deliveries_per_event",
                    f"the limit is {quotas.deliveries_per_event} deliveries per event; one {event_type} event "
                    f"would fan out to {reached}",
                )
            )
            break  # one event type says it; the others would repeat it
    if problems:
        named = ", ".join(sorted({p.path.removeprefix("quotas.") for p in problems}))
        raise QuotaExceeded(f"This change would exceed the workspace's quota ({named}).", problems)


def quotas_with(current: Quotas, changes: Mapping[str, int]) -> Quotas:
    values = {f.name: changes.get(f.name, getattr(current, f.name)) for f in fields(Quotas)}
    return Quotas(**values)
