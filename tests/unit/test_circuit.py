"""The per-destination circuit breaker, on a fake clock."""

from __future__ import annotations

from nimriz_destinations.delivery.circuit import Admission, CircuitBreakers
from nimriz_destinations.storage.records import CircuitRecord

DESTINATION = ("ws", "dest")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock) -> CircuitBreakers:
    return CircuitBreakers(threshold=3, cool_down_seconds=10, max_cool_down_seconds=25, clock=clock)


def fail(circuits: CircuitBreakers, times: int, *, probe: bool = False) -> list[CircuitRecord | None]:
    return [circuits.observe(DESTINATION, failed=True, probe=probe) for _ in range(times)]


def test_the_circuit_opens_on_the_thresholdth_consecutive_failure_and_refuses_until_the_cool_down_ends() -> None:
    clock = Clock()
    circuits = breakers(clock)
    assert fail(circuits, 2) == [None, None]
    assert circuits.admit(DESTINATION).admission is Admission.SEND

    opened = circuits.observe(DESTINATION, failed=True, probe=False)

    assert opened == CircuitRecord("open", opened_at=1000.0, until=1010.0)
    refused = circuits.admit(DESTINATION)
    assert refused.admission is Admission.REFUSE and refused.retry_at == 1010.0


def test_a_success_between_failures_resets_the_count() -> None:
    circuits = breakers(Clock())
    fail(circuits, 2)
    assert circuits.observe(DESTINATION, failed=False, probe=False) is None
    assert fail(circuits, 2) == [None, None]
    assert circuits.state(DESTINATION) == "closed"


def test_after_the_cool_down_one_probe_at_a_time_and_its_success_closes_the_circuit() -> None:
    clock = Clock()
    circuits = breakers(clock)
    fail(circuits, 3)
    clock.now = 1010.0

    assert circuits.admit(DESTINATION).admission is Admission.PROBE
    assert circuits.admit(DESTINATION).admission is Admission.REFUSE  # the probe is under way
    closed = circuits.observe(DESTINATION, failed=False, probe=True)

    assert closed == CircuitRecord("closed", closed_at=1010.0)
    assert circuits.admit(DESTINATION).admission is Admission.SEND


def test_a_failed_probe_opens_the_circuit_again_for_twice_the_cool_down_up_to_the_cap() -> None:
    clock = Clock()
    circuits = breakers(clock)
    fail(circuits, 3)
    clock.now = 1010.0
    assert circuits.admit(DESTINATION).admission is Admission.PROBE
    assert fail(circuits, 1, probe=True) == [CircuitRecord("open", opened_at=1010.0, until=1030.0)]
    clock.now = 1030.0
    assert circuits.admit(DESTINATION).admission is Admission.PROBE
    assert fail(circuits, 1, probe=True) == [CircuitRecord("open", opened_at=1030.0, until=1055.0)]  # capped at 25


def test_a_probe_that_sent_nothing_lets_another_probe() -> None:
    clock = Clock()
    circuits = breakers(clock)
    fail(circuits, 3)
    clock.now = 1010.0
    assert circuits.admit(DESTINATION).admission is Admission.PROBE
    circuits.cancel_probe(DESTINATION)
    assert circuits.admit(DESTINATION).admission is Admission.PROBE


def test_an_open_circuit_another_dispatcher_persisted_is_adopted_and_its_closing_is_persisted_here() -> None:
    clock = Clock()
    circuits = breakers(clock)
    circuits.adopt(DESTINATION, CircuitRecord("open", opened_at=995.0, until=1005.0))
    assert circuits.admit(DESTINATION).admission is Admission.REFUSE

    clock.now = 1005.0
    assert circuits.admit(DESTINATION).admission is Admission.PROBE
    assert circuits.observe(DESTINATION, failed=False, probe=True) == CircuitRecord("closed", closed_at=1005.0)


def test_a_persisted_circuit_left_open_is_closed_by_the_next_success_seen_anywhere() -> None:
    clock = Clock()
    circuits = breakers(clock)
    # Its cool-down is over and nobody probed yet: this dispatcher sends, and records the circuit closed.
    circuits.adopt(DESTINATION, CircuitRecord("open", opened_at=900.0, until=910.0))
    assert circuits.admit(DESTINATION).admission is Admission.SEND
    assert circuits.observe(DESTINATION, failed=False, probe=False) == CircuitRecord("closed", closed_at=1000.0)


def test_a_closing_another_dispatcher_persisted_closes_the_circuit_here() -> None:
    clock = Clock()
    circuits = breakers(clock)
    fail(circuits, 3)  # open here until 1010
    clock.now = 1004.0
    circuits.adopt(DESTINATION, CircuitRecord("closed", closed_at=1003.0))  # another's probe succeeded, or a re-enable
    assert circuits.state(DESTINATION) == "closed"
    assert circuits.admit(DESTINATION).admission is Admission.SEND


def test_a_persisted_state_older_than_the_last_change_here_is_not_adopted() -> None:
    clock = Clock()
    circuits = breakers(clock)
    fail(circuits, 3)  # opened here at 1000
    circuits.adopt(DESTINATION, CircuitRecord("closed", closed_at=990.0))
    assert circuits.admit(DESTINATION).admission is Admission.REFUSE
    circuits.observe(DESTINATION, failed=False, probe=False)  # closed here at 1000
    circuits.adopt(DESTINATION, CircuitRecord("open", opened_at=995.0, until=1005.0))
    assert circuits.admit(DESTINATION).admission is Admission.SEND


def test_a_half_open_circuit_no_probe_reports_on_lapses_to_closed_after_one_more_cool_down() -> None:
    clock = Clock()
    circuits = breakers(clock)
    fail(circuits, 3)  # open until 1010
    clock.now = 1010.0
    assert circuits.admit(DESTINATION).admission is Admission.PROBE  # its chunk then never reports
    clock.now = 1019.0
    assert circuits.admit(DESTINATION).admission is Admission.REFUSE
    clock.now = 1020.0
    assert circuits.admit(DESTINATION).admission is Admission.SEND
    assert circuits.state(DESTINATION) == "closed"


def test_the_api_shows_a_persisted_circuit_half_open_for_one_cool_down_then_closed() -> None:
    record = CircuitRecord("open", opened_at=1000.0, until=1010.0)
    assert [record.shown_state(now) for now in (1009.0, 1010.0, 1019.0, 1020.0)] == [
        "open",
        "half_open",
        "half_open",
        "closed",
    ]
