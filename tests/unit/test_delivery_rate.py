"""The delivery rate's bucket arithmetic (rates.py, design §8.11): tokens spaced so that no 1 s window holds more than
the rate, taken within the pacing horizon, and the jobs without one sent back after their place in line."""

from __future__ import annotations

import random

import pytest

from nimriz_destinations.rates import (
    PACING_SECONDS,
    SLOT_GRACE_SECONDS,
    SPACING_MARGIN,
    grantable,
    granted,
    interval,
)


def most_in_any_second(times: list[float]) -> int:
    """The most of `times` any half-open window [t, t + 1) holds."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize("per_second", [1, 5, 7, 100, 1000])
def test_tokens_are_spaced_so_a_second_holds_at_most_the_rate_even_with_sends_late_by_the_margin(
    per_second: int,
) -> None:
    spacing = interval(per_second)
    tokens = [index * spacing for index in range(per_second * 5)]
    assert most_in_any_second(tokens) <= per_second
    # Each send late by anything up to the margin (its start's grace plus the network's jitter), independently.
    rng = random.Random(per_second)
    late = [moment + rng.uniform(0, SPACING_MARGIN) for moment in tokens]
    assert most_in_any_second(late) <= per_second
    assert SLOT_GRACE_SECONDS < SPACING_MARGIN


def test_an_idle_bucket_grants_the_tokens_within_the_horizon_starting_now() -> None:
    spacing = interval(5)  # 0.26 s
    assert grantable(free_at=0.0, now=100.0, wanted=3, spacing=spacing, horizon=1.0) == 3
    # Tokens at 0, 0.26, 0.52, 0.78: the fifth (1.04) would be past the horizon.
    assert grantable(free_at=0.0, now=100.0, wanted=50, spacing=spacing, horizon=1.0) == 4
    grant = granted(free_at_before=0.0, now=100.0, count=4, spacing=spacing)
    assert [round(grant.token_at(index), 2) for index in range(4)] == [100.0, 100.26, 100.52, 100.78]
    assert grant.free_at == pytest.approx(101.04)


def test_a_busy_bucket_grants_only_what_follows_the_tokens_taken_within_the_horizon() -> None:
    spacing = interval(5)
    assert grantable(free_at=100.5, now=100.0, wanted=50, spacing=spacing, horizon=1.0) == 2  # 100.5, 100.76
    assert grantable(free_at=101.2, now=100.0, wanted=50, spacing=spacing, horizon=1.0) == 0
    grant = granted(free_at_before=100.5, now=100.0, count=2, spacing=spacing)
    assert grant.first_at == 100.5 and grant.free_at == pytest.approx(101.02)


def test_without_time_to_wait_only_a_token_free_now_is_granted() -> None:
    assert grantable(free_at=0.0, now=100.0, wanted=10, spacing=0.11, horizon=0.0) == 1
    assert grantable(free_at=100.01, now=100.0, wanted=10, spacing=0.11, horizon=0.0) == 0


def test_jobs_without_a_token_come_back_in_whole_seconds_for_their_place_in_line_at_most_a_pacing_horizon_early() -> (
    None
):
    spacing = interval(5)
    grant = granted(free_at_before=103.5, now=100.0, count=0, spacing=spacing)
    waits = [grant.wait(place, now=100.0) for place in range(8)]
    assert waits == [3, 3, 4, 4, 4, 4, 5, 5]
    for place, wait in enumerate(waits):
        token_at = 103.5 + place * spacing
        assert wait == int(wait) and token_at - PACING_SECONDS < 100.0 + wait <= token_at
    soon = granted(free_at_before=100.1, now=100.0, count=0, spacing=spacing)
    assert soon.wait(0, now=100.0) == 1.0


def test_takers_sharing_a_bucket_never_exceed_the_rate_in_any_second() -> None:
    """Many dispatchers taking in turn, at random moments and for random numbers of jobs, from one bucket: the
    tokens they are granted, all together, never put more than the rate in a second."""
    rng = random.Random(7)
    per_second, spacing = 5, interval(5)
    free_at, now, tokens = 0.0, 1000.0, []
    for _ in range(400):
        now += rng.uniform(0.0, 0.3)
        count = grantable(free_at=free_at, now=now, wanted=rng.randint(1, 50), spacing=spacing, horizon=PACING_SECONDS)
        grant = granted(free_at_before=free_at, now=now, count=count, spacing=spacing)
        tokens += [grant.token_at(index) for index in range(count)]
        free_at = grant.free_at if count else free_at
    assert len(tokens) > 200  # about 60 s at 5 / 1.3 a second (231 at most): the bucket is kept busy
    assert most_in_any_second(tokens) <= per_second
