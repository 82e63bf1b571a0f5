"""Circuit breakers per destination, kept per execution environment and shared through the destination item.

After `threshold` consecutive failures that say the endpoint is not working (timeouts, network errors, 5xx)
a destination's circuit opens: its jobs go back to the queue unsent until the cool-down ends. Then it is half-open
for one more cool-down: one probe at a time (a probe that never reports is given up after a cool-down); its success
closes the circuit, its failure opens it again for twice the cool-down (up to `max_cool_down_seconds`). A half-open
circuit no probe reported on by the end of that window lapses to closed: the next sends decide. Any HTTP answer
below 500 counts as success: the endpoint works, whatever it thought of the request.

Opening and closing are returned as `CircuitRecord`s for the dispatcher to persist on the destination item, which
every dispatcher reads with each batch (`adopt`): the newer of the persisted state and its own view wins, open or
closed, so every environment converges on the last change made anywhere, a re-enable (PUT) included. The API
shows it in `health.circuit`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..storage.records import CircuitRecord

DestinationKey = tuple[str, str]  # (workspace id, destination id)


class Admission(Enum):
    SEND = "send"
    PROBE = "probe"  # the one request allowed while half-open: report its outcome with `observe`
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Decision:
    admission: Admission
    retry_at: float | None = None  # epoch seconds: when a refused job may be tried again


@dataclass(slots=True)
class _Circuit:
    state: str = "closed"  # closed | open | half_open
    failures: int = 0  # consecutive
    until: float | None = None
    cool_down: float = 0.0
    probing: bool = False
    probe_until: float = 0.0  # a probe not reported by then is given up
    persisted_open: bool = False  # what the destination item says, as last read or written
    changed_at: float = 0.0  # epoch seconds of the last change seen, here or persisted


class CircuitBreakers:
    def __init__(
        self,
        *,
        threshold: int,
        cool_down_seconds: float,
        max_cool_down_seconds: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._threshold = threshold
        self._cool_down = cool_down_seconds
        self._max_cool_down = max(max_cool_down_seconds, cool_down_seconds)
        self._clock = clock
        self._circuits: dict[DestinationKey, _Circuit] = {}
        self._lock = threading.Lock()

    def _circuit(self, key: DestinationKey) -> _Circuit:
        return self._circuits.setdefault(key, _Circuit(cool_down=self._cool_down))

    def adopt(self, key: DestinationKey, persisted: CircuitRecord | None) -> None:
        """Take over the persisted circuit (read with the batch's destination check) when it changed after the last
        change this environment saw: opened, or closed, by another dispatcher or a re-enable."""
        with self._lock:
            circuit = self._circuit(key)
            circuit.persisted_open = persisted is not None and persisted.state == "open"
            if persisted is None or persisted.changed_at <= circuit.changed_at:
                return
            circuit.changed_at, circuit.probing, circuit.failures = persisted.changed_at, False, 0
            if persisted.state == "open" and persisted.until is not None:
                circuit.state, circuit.until = "open", persisted.until
                if persisted.opened_at is not None:
                    circuit.cool_down = max(persisted.until - persisted.opened_at, self._cool_down)
            else:
                circuit.state, circuit.until, circuit.cool_down = "closed", None, self._cool_down

    def admit(self, key: DestinationKey) -> Decision:
        now = self._clock()
        with self._lock:
            circuit = self._circuit(key)
            if circuit.state == "closed":
                return Decision(Admission.SEND)
            assert circuit.until is not None
            if circuit.state == "open" and now >= circuit.until:
                circuit.state = "half_open"
            if circuit.state == "half_open" and now >= circuit.until + circuit.cool_down:
                # No probe reported within a cool-down of its due time: lapsed; the next sends decide.
                circuit.state, circuit.until, circuit.probing, circuit.failures = "closed", None, False, 0
                return Decision(Admission.SEND)
            if circuit.state == "half_open" and (not circuit.probing or now >= circuit.probe_until):
                circuit.probing, circuit.probe_until = True, now + circuit.cool_down
                return Decision(Admission.PROBE)
            # Open, or half-open with its probe under way: come back when the cool-down (or the next one) ends.
            retry_at = circuit.until if circuit.until > now else now + circuit.cool_down
            return Decision(Admission.REFUSE, retry_at)

    def cancel_probe(self, key: DestinationKey) -> None:
        """The probe admitted sent nothing (e.g. every job was already finished): another may probe."""
        with self._lock:
            self._circuit(key).probing = False

    def observe(self, key: DestinationKey, *, failed: bool, probe: bool) -> CircuitRecord | None:
        """One request's result; returns the circuit to persist when it opened or closed."""
        now = self._clock()
        with self._lock:
            circuit = self._circuit(key)
            if probe:
                circuit.probing = False
            if not failed:
                circuit.failures = 0
                if circuit.state == "closed" and not circuit.persisted_open:
                    return None
                circuit.state, circuit.until, circuit.cool_down = "closed", None, self._cool_down
                circuit.persisted_open, circuit.changed_at = False, now
                return CircuitRecord("closed", closed_at=now)
            circuit.failures += 1
            if circuit.state == "half_open" and probe:
                circuit.cool_down = min(circuit.cool_down * 2, self._max_cool_down)
            elif circuit.state != "closed" or circuit.failures < self._threshold:
                return None
            circuit.state, circuit.until = "open", now + circuit.cool_down
            circuit.persisted_open, circuit.changed_at = True, now
            return CircuitRecord("open", opened_at=now, until=circuit.until)

    def state(self, key: DestinationKey) -> str:
        with self._lock:
            return self._circuit(key).state
