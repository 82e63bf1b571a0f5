"""Throttled attempts (design §8.1): logged `throttled`, scheduled at the provider's time, not counted against the
six attempts up to a bound of their own, after which they count like any retry."""

from __future__ import annotations

from collections.abc import Callable

from nimriz_destinations.delivery.retry import MAX_ATTEMPTS, MAX_THROTTLED_ANSWERS
from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.providers.base import Outcome
from tests.provider_support import records

NOW = 1_000_000.0
THROTTLED = SendResult(Outcome.throttle("http_429", "slow down", wait=90.0), http_status=429)
FAILED = SendResult(Outcome.retry("http_503"), http_status=503)


def answers(*results: SendResult) -> Callable[[], SendResult]:
    return iter(results).__next__


def test_a_throttled_attempt_is_logged_throttled_and_waits_the_providers_time() -> None:
    (write,) = records(answers(THROTTLED), 1, now=NOW)
    (entry,) = write.entries
    assert (entry.attempt, entry.outcome, entry.error_class, entry.http_status) == (1, "throttled", "http_429", 429)
    assert 90 <= (write.next_attempt_at or 0) - NOW <= 108
    assert (write.summary.status, write.summary.attempts, write.throttled) == ("retrying", 1, 1)


def test_throttled_attempts_leave_the_six_attempts_whole() -> None:
    sequence = [THROTTLED] * 6 + [FAILED] * MAX_ATTEMPTS
    writes = records(answers(*sequence), len(sequence), now=NOW)
    assert [w.summary.status for w in writes[:-1]] == ["retrying"] * (len(sequence) - 1)
    last = writes[-1]
    assert (last.summary.status, last.summary.attempts, last.throttled) == ("dead_lettered", 12, 6)
    assert last.dead_letter is not None
    assert last.summary.last_message == "gave up after 12 attempts (6 of them throttled): http_503"
    assert [entry.attempt for write in writes for entry in write.entries] == list(range(1, 13))


def test_throttled_answers_past_their_bound_count_against_the_six() -> None:
    count = MAX_THROTTLED_ANSWERS + MAX_ATTEMPTS
    writes = records(answers(*[THROTTLED] * count), count, now=NOW)
    assert [w.throttled for w in writes][-MAX_ATTEMPTS:] == [MAX_THROTTLED_ANSWERS] * MAX_ATTEMPTS
    assert [w.summary.status for w in writes] == ["retrying"] * (count - 1) + ["dead_lettered"]
    assert all(w.entries[-1].outcome == "throttled" for w in writes)
