"""A delivery's summary item (`DLV#<delivery id>`) in DynamoDB's terms: the state the dispatcher reads off it
(`DeliveryState`, `state_of`) and the parts its writes are made of (`ItemUpdate`, `log_entry`, `compact_json`,
`epoch_number`). The writes themselves, and what each requires, are `delivery_states.py`'s.

Besides the API's `doc` and `log`, the summary carries the state the dispatcher decides from: `status` once an outcome
is recorded, `attempts` (requests on the wire), `unsent` (failures before any request), `unrecorded` (sends whose
outcome could not be written), `throttled` (sends the provider's rate limit refused, not counted against the attempts'
budget), `next_attempt_at`, a `lease_until` while a copy of the job holds the delivery, and a `hold_until` while a job
queued again waits out its possible twins."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .deliveries import FINISHED_STATUSES, HELD, AttemptRecord


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """What the dispatcher decides from; the default is a delivery with no record yet."""

    rev: int = 0
    status: str | None = None  # retrying | held | delivered | dead_lettered | skipped; None: no outcome recorded
    attempts: int = 0  # requests on the wire whose outcome is recorded
    unrecorded: int = 0  # requests on the wire whose outcome could not be written
    unsent: int = 0  # failures before any request went out (authorization, building, mapping)
    lease_until: float | None = None  # epoch seconds
    hold_until: float | None = None
    next_attempt_at: float | None = None
    writer: str | None = None
    throttled: int = 0  # recorded attempts the provider's rate limit refused that the retry budget does not count
    held_at: float | None = None  # epoch seconds: when a paused destination held it (status `held`)

    @property
    def held(self) -> bool:
        return self.status == HELD

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def sends(self) -> int:
        """Requests made so far, recorded or not: the next attempt's number is one more."""
        return self.attempts + self.unrecorded

    @property
    def counted(self) -> int:
        """Sends the retry budget counts: throttled ones within their bound are not (design §8.1)."""
        return self.sends - self.throttled

    def written(self, token: str, rev: int) -> bool:
        """Whether this record is the one our write of revision `rev` made (its answer lost, its retry refused)."""
        return self.writer == token and self.rev == rev


@dataclass(slots=True)
class ItemUpdate:
    """An update expression in parts; `#name` for attribute names DynamoDB reserves (status, ttl, doc, log)."""

    sets: dict[str, Any] = field(default_factory=dict)
    appends: dict[str, list[Any]] = field(default_factory=dict)  # lists extended (created when absent)
    adds: dict[str, Any] = field(default_factory=dict)  # sets added to
    removes: list[str] = field(default_factory=list)

    def expression(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        values: dict[str, Any] = {}
        assignments = []
        for index, (name, value) in enumerate(self.sets.items()):
            values[f":s{index}"] = value
            if name == "#ttl":  # the first write's expiry stays: a delivery's record lives as long as its log
                assignments.append(f"{name} = if_not_exists({name}, :s{index})")
            else:
                assignments.append(f"{name} = :s{index}")
        for index, (name, items) in enumerate(self.appends.items()):
            values[f":a{index}"] = {"L": items}
            values[":empty"] = {"L": []}
            assignments.append(f"{name} = list_append(if_not_exists({name}, :empty), :a{index})")
        clauses = ["SET " + ", ".join(assignments)]
        if self.adds:
            values |= {f":d{index}": value for index, value in enumerate(self.adds.values())}
            clauses.append("ADD " + ", ".join(f"{name} :d{index}" for index, name in enumerate(self.adds)))
        if self.removes:
            clauses.append("REMOVE " + ", ".join(self.removes))
        every = [*self.sets, *self.appends, *self.adds, *self.removes]
        names = {name: name[1:] for name in every if name.startswith("#")}
        return " ".join(clauses), names, values


def state_of(item: dict[str, Any]) -> DeliveryState:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    return DeliveryState(
        rev=int(number("rev") or 0),
        status=item.get("status", {}).get("S"),
        attempts=int(number("attempts") or 0),
        unrecorded=len(item.get("unrecorded", {}).get("SS", [])),
        unsent=int(number("unsent") or 0),
        lease_until=number("lease_until"),
        hold_until=number("hold_until"),
        next_attempt_at=number("next_attempt_at"),
        writer=item.get("writer", {}).get("S"),
        throttled=int(number("throttled") or 0),
        held_at=number("held_at"),
    )


def log_entry(entry: AttemptRecord) -> dict[str, Any]:
    """A log entry as the summary embeds it: without the delivery id it is filed under, nor empty fields."""
    return {name: value for name, value in asdict(entry).items() if name != "delivery_id" and value is not None}


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def epoch_number(epoch_seconds: float) -> dict[str, str]:
    return {"N": f"{epoch_seconds:.3f}"}
