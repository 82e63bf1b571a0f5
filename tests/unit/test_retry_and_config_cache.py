from __future__ import annotations

import random
from typing import Any

from nimriz_destinations.delivery.config import DestinationConfigs
from nimriz_destinations.delivery.retry import MAX_ATTEMPTS, MAX_PROVIDER_WAIT_SECONDS, RetryPolicy
from nimriz_destinations.ids import live_delivery_id, new_delivery_id


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    def __init__(self) -> None:
        self.version = 1
        self.calls = 0

    def list_all(self, workspace_id: str) -> list[Any]:
        self.calls += 1
        return [f"{workspace_id}-config-v{self.version}"]

    def get(self, workspace_id: str, destination_id: str, *, consistent: bool) -> Any:
        self.calls += 1
        return f"{destination_id}-v{self.version}"


def test_six_attempts_in_all() -> None:
    policy = RetryPolicy()
    assert MAX_ATTEMPTS == 6
    assert [policy.should_retry(n) for n in range(1, 7)] == [True, True, True, True, True, False]


def test_backoff_grows_exponentially_within_the_jitter() -> None:
    policy = RetryPolicy(base_seconds=60, factor=4, jitter=0.2)
    rng = random.Random(7)
    for attempt, expected in [(1, 60), (2, 240), (3, 960), (4, 3840), (5, 15360)]:
        delay = policy.delay_after(attempt, rng=rng)
        assert expected * 0.8 - 1 <= delay <= expected * 1.2 + 1, (attempt, delay)


def test_retry_after_is_honoured_up_to_twelve_hours_whatever_our_schedules_cap() -> None:
    policy = RetryPolicy(base_seconds=10, factor=2, jitter=0, max_delay_seconds=3600)
    assert policy.delay_after(1, retry_after=120) == 120
    assert policy.delay_after(1, retry_after=5) == 10  # our own backoff when it is longer
    assert policy.delay_after(1, retry_after=7200) == 7200  # a provider's stated wait is not cut to our cap
    assert policy.delay_after(1, retry_after=999_999) == MAX_PROVIDER_WAIT_SECONDS == 43_200


def test_a_throttled_answer_waits_the_providers_time_never_less_and_our_schedule_without_one() -> None:
    quick = RetryPolicy(base_seconds=1, factor=2, max_delay_seconds=1)  # the local stack's kind of schedule
    rng = random.Random(3)
    waits = [quick.throttled_delay(5, 30.0, rng=rng) for _ in range(200)]
    assert min(waits) >= 30 and max(waits) <= 36 and len(set(waits)) > 1  # spread, never shorter
    assert quick.throttled_delay(1, 10**9) == 43_200
    assert quick.throttled_delay(1, 0.2) == 1
    assert RetryPolicy(jitter=0).throttled_delay(2, None) == 240  # no stated wait: the schedule's


def test_delays_never_exceed_what_sqs_accepts() -> None:
    policy = RetryPolicy(base_seconds=100_000, max_delay_seconds=10**9)
    assert policy.delay_after(5) == 43_200


def test_a_config_change_is_seen_within_the_cache_bound_and_not_before() -> None:
    clock, store = FakeClock(), CountingStore()
    configs = DestinationConfigs(store, store, ttl_seconds=30, clock=clock)  # type: ignore[arg-type]
    assert configs.for_workspace("ws") == ["ws-config-v1"]
    store.version = 2
    clock.now += 29
    assert configs.for_workspace("ws") == ["ws-config-v1"]  # cached: no read per event
    clock.now += 1.5
    assert configs.for_workspace("ws") == ["ws-config-v2"]  # bounded staleness: 30 s
    assert store.calls == 2


def test_many_events_cost_one_read_per_cache_period() -> None:
    clock, store = FakeClock(), CountingStore()
    configs = DestinationConfigs(store, store, ttl_seconds=30, clock=clock)  # type: ignore[arg-type]
    for _ in range(1000):
        configs.destination("ws", "dest")
        clock.now += 0.01
    assert store.calls == 1


def test_live_delivery_ids_are_deterministic_and_time_ordered() -> None:
    first = live_delivery_id("event-1", "action-1", 1_700_000_000_000)
    assert first == live_delivery_id("event-1", "action-1", 1_700_000_000_000)
    assert first != live_delivery_id("event-1", "action-2", 1_700_000_000_000)
    assert live_delivery_id("event-2", "action-1", 1_700_000_000_001) > first
    assert first[14] == "7"  # UUID version 7 layout
    assert new_delivery_id(1_700_000_000_000) != new_delivery_id(1_700_000_000_000)
