"""What one outcome of a delivery makes of its record (design §8.1, §8.5): its status, the log entries it adds, when
it is tried again, and its dead letter when it ends there.

Two counts, bounded apart: attempts (requests on the wire, numbered like X-Nim-Delivery-Attempt: at most
`RetryPolicy.max_attempts`) and failures before any request went out (authorization, a request that cannot be built
or sent, a mapping that fails: at most `MAX_FAILURES_BEFORE_SENDING`, then a dead letter naming the cause). A request
whose outcome could not be recorded counts as an attempt, logged `unrecorded` by the next record. An attempt the
provider's rate limit refused is logged `throttled` and waits the provider's time; the first
`RetryPolicy.max_throttled` of them are not counted against the attempts' budget (later ones are). A job its
destination's delivery rate holds back (`rate_limited`, design §8.11) is neither: no request, no failure; the record
says `throttled` until its token comes, with one log entry (outcome `throttled`, no attempt number).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import iso_from_unix
from ..jobs import DeliveryJob
from ..providers.base import Outcome, Verdict
from ..storage.deliveries import HELD, AttemptRecord, DeadLetter, DeliverySummary
from ..storage.deliveries import THROTTLED as WAITING_FOR_RATE
from ..storage.delivery_items import DeliveryState
from ..storage.delivery_states import DeliveryWrite
from .retry import RetryPolicy
from .send_result import SendResult

MAX_FAILURES_BEFORE_SENDING = 6
THROTTLED = "throttled"  # the log's outcome of an attempt the provider's rate limit refused

DELETED = Outcome.skipped("destination_deleted", "The destination no longer exists.")
NOT_APPLICABLE = Outcome.skipped("not_applicable", "Operational notices are delivered to webhook destinations only.")
UNRECORDED = Outcome.retry(
    "unrecorded", "This attempt was made but its outcome could not be recorded; it may have reached the destination."
)
HOLD_EXPIRED = Outcome.permanent(
    "hold_expired",
    "Held longer than HOLD_MAX_SECONDS while its destination was paused; recover or replay it to send it.",
)
ABANDONED = Outcome.permanent(
    "processing_failed", "Nimriz could not process this delivery repeatedly; replay it once the cause is fixed."
)


def rate_limited(wait: float) -> Outcome:
    """The outcome of a job its destination's delivery rate holds back for `wait` seconds: no request went out."""
    return Outcome.throttle(
        "rate_limited",
        "Held back by the destination's delivery_rate; sent when a token is free, no attempt used.",
        wait,
    )


@dataclass(frozen=True, slots=True)
class Settled:
    write: DeliveryWrite
    retry_delay: float | None  # seconds until the next try, when there is one


def settle(job: DeliveryJob, state: DeliveryState, result: SendResult, retry: RetryPolicy, *, now: float) -> Settled:
    """The record of `result` for a delivery whose record was `state`."""
    outcome = result.outcome
    entries = [_unrecorded(job, state.attempts + number, now) for number in range(1, state.unrecorded + 1)]
    # Requests of this send refused together with other items and resent at once: each an attempt, logged first.
    for number, earlier in enumerate(result.earlier, start=state.sends + 1):
        refusal = earlier.outcome.message or earlier.outcome.error_class
        resent = f"{refusal}; sent again at once in a smaller request"
        entries.append(_attempt(job, number, earlier, Verdict.RETRY.value, resent, now=now))
    sends = state.sends + result.requests
    waiting = not result.sent and outcome.throttled  # held back by the delivery rate: neither attempt nor failure
    unsent = state.unsent + (1 if not result.sent and outcome.verdict is Verdict.RETRY and not waiting else 0)
    throttled = result.sent and outcome.throttled
    free = throttled and state.throttled < retry.max_throttled  # not counted against the attempts' budget
    uncounted = state.throttled + (1 if free else 0)
    delay: float | None = None
    message = outcome.message
    if outcome.verdict is Verdict.RETRY and result.sent:
        if free or retry.should_retry(state.counted + result.requests):
            wait = outcome.retry_after
            delay = retry.throttled_delay(sends, wait) if throttled else retry.delay_after(sends, wait)
        else:
            also = f" ({uncounted} of them throttled)" if uncounted else ""
            message = f"gave up after {sends} attempts{also}: {message or outcome.error_class}"
    elif waiting:
        delay = outcome.retry_after
    elif outcome.verdict is Verdict.RETRY:
        if unsent < MAX_FAILURES_BEFORE_SENDING:
            delay = retry.delay_after(unsent)
        else:
            message = f"gave up after {unsent} failures before any request was sent: {message or outcome.error_class}"
    next_attempt_at = now + delay if delay is not None else None
    status = WAITING_FOR_RATE if waiting else _status(outcome.verdict, retrying=delay is not None)
    # An attempt is logged, and so is each failure before any request (tried again, or the last one); a decision made
    # without a request (a skip, a refusal) is said by the summary and the dead letter.
    if result.sent or outcome.verdict is Verdict.RETRY:
        number = sends if result.sent else sends + 1
        logged = THROTTLED if outcome.throttled else outcome.verdict.value
        entry = _attempt(job, number, result, logged, message, now=now, next_attempt_at=next_attempt_at)
        entries.append(entry)
    summary = _summary(
        job, status, sends, now=now, http_status=result.http_status, error_class=outcome.error_class, message=message
    )
    dead_letter = None
    if status == "dead_lettered":
        dead_letter = DeadLetter(
            delivery_id=job.delivery_id,
            action_id=job.action_id,
            event_id=summary.event_id,
            event_type=summary.event_type,
            error_class=outcome.error_class,
            message=message,
            http_status=result.http_status,
            response_excerpt=result.response_excerpt,
            attempts=sends,
            dead_lettered_at=iso_from_unix(now),
            job=job.model_dump(mode="json", exclude={"queued", "first_attempt"}),  # replayed as a new delivery
        )
    write = DeliveryWrite(
        job.workspace_id, summary, entries, unsent, next_attempt_at, dead_letter, uncounted,
        job=stored_job(job, next_attempt=sends + 1),
    )  # fmt: skip
    return Settled(write, delay)


def held(job: DeliveryJob, state: DeliveryState, *, now: float) -> DeliveryWrite:
    """The record of a delivery its paused destination holds (design §2.2): status `held`, with its job."""
    summary = _summary(job, HELD, state.sends, now=now)
    return DeliveryWrite(job.workspace_id, summary, [], state.unsent, job=stored_job(job, next_attempt=state.sends + 1))


def _summary(
    job: DeliveryJob,
    status: str,
    attempts: int,
    *,
    now: float,
    http_status: int | None = None,
    error_class: str | None = None,
    message: str | None = None,
) -> DeliverySummary:
    """The log's summary of the job's delivery as of `now`: its status, attempts and last answer."""
    return DeliverySummary(
        delivery_id=job.delivery_id,
        destination_id=job.destination_id,
        action_id=job.action_id,
        event_id=str(job.event.get("id")),
        event_type=str(job.event.get("type")),
        reason=job.reason,
        status=status,
        attempts=attempts,
        last_http_status=http_status,
        last_error_class=error_class,
        last_message=message,
        created_at=job.queued_at,
        updated_at=iso_from_unix(now),
    )


def stored_job(job: DeliveryJob, *, next_attempt: int) -> str:
    """What a record keeps to send the delivery again (a recovery, a resume): the job as compact JSON, the canonical
    event and ids only (no credential is ever part of a job), bounded by the queue's 256 KiB message; its
    `first_attempt` is the delivery's next, so the re-send carries its own reason."""
    return job.model_copy(update={"first_attempt": next_attempt}).model_dump_json(exclude={"queued"})


def attempt_reason(job: DeliveryJob, attempt: int) -> str:
    """X-Nim-Delivery-Reason of this attempt: test stays test; the job's first send carries its reason (live,
    replay), a later attempt is a retry."""
    if job.reason == "test" or attempt <= job.first_attempt:
        return job.reason
    return "retry"


def _attempt(
    job: DeliveryJob,
    number: int,
    result: SendResult,
    logged: str,
    message: str | None,
    *,
    now: float,
    next_attempt_at: float | None = None,
) -> AttemptRecord:
    """The log entry of `result` as attempt `number`; a failure before any request is logged without a number (the
    next attempt's reason); `logged` is its outcome in the log (a verdict, or `throttled`)."""
    return AttemptRecord(
        delivery_id=job.delivery_id,
        attempt=number if result.sent else None,
        reason=attempt_reason(job, number),
        outcome=logged,
        http_status=result.http_status,
        duration_ms=result.duration_ms,
        error_class=result.outcome.error_class,
        message=message,
        response_excerpt=result.response_excerpt,
        request=result.request,
        attempted_at=iso_from_unix(now),
        next_attempt_at=iso_from_unix(next_attempt_at) if next_attempt_at is not None else None,
    )


def _unrecorded(job: DeliveryJob, attempt: int, now: float) -> AttemptRecord:
    return AttemptRecord(
        delivery_id=job.delivery_id,
        attempt=attempt,
        reason=attempt_reason(job, attempt),
        outcome=Verdict.RETRY.value,
        http_status=None,
        duration_ms=None,
        error_class=UNRECORDED.error_class,
        message=UNRECORDED.message,
        response_excerpt=None,
        request=None,
        attempted_at=iso_from_unix(now),
    )


def _status(verdict: Verdict, *, retrying: bool) -> str:
    if verdict is Verdict.DELIVERED:
        return "delivered"
    if verdict is Verdict.SKIPPED:
        return "skipped"
    return "retrying" if retrying else "dead_lettered"
