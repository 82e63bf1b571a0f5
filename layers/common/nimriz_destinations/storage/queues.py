"""The SQS queues: Deliveries (delivery jobs), the released deliveries' FIFO queue (a resume's jobs, in order per
destination), LiveEvents (canonical events and notices) and the LiveEvents DLQ.

The one place that speaks SQS: batching (10 messages and 256 KiB per call), resending the entries SQS did not
accept, setting when a returned message comes back, and reading delivery jobs out of a batch SQS handed over.

A delivery job says how it was queued (`DeliveryJob.queued`, design §2): a first send goes out `once`, without
botocore's retries, and a send whose answer never came (it may have been queued) goes out again as `again`, so
the dispatcher knows which jobs may have a twin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from .. import aws
from ..jobs import DeliveryJob, ReceivedJob
from ..observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS takes up to 10 messages and 256 KiB in one batch call.
_BATCH_MESSAGES = 10
_BATCH_BYTES = 256 * 1024
# Sends of the entries SQS did not accept before giving up (the caller's message then comes back and is retried).
_SEND_ATTEMPTS = 3
# The longest DelaySeconds SQS takes for a message (15 minutes).
MAX_DELAY_SECONDS = 900

Owner = TypeVar("Owner")


class NotQueued(Exception):
    """SQS kept refusing some messages."""


def _batches(bodies: Sequence[str]) -> Iterator[list[int]]:
    """The bodies' indexes in as few batch calls as fit."""
    batch: list[int] = []
    batch_bytes = 0
    for index, body in enumerate(bodies):
        size = len(body.encode())
        if batch and (len(batch) == _BATCH_MESSAGES or batch_bytes + size > _BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(index)
        batch_bytes += size
    if batch:
        yield batch


def _send_batch(
    client: SQSClient, queue_url: str, bodies: Mapping[int, str], fields: Mapping[int, Mapping[str, Any]] | None = None
) -> list[int]:
    """One SendMessageBatch (with each entry's further `fields`, by index); returns the indexes of the bodies SQS did
    not accept."""
    entries: Any = [
        {"Id": str(index), "MessageBody": body, **(fields[index] if fields else {})} for index, body in bodies.items()
    ]
    response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return [int(entry["Id"]) for entry in response.get("Failed", [])]


def _send_batches(
    queue_url: str, bodies: Sequence[str], fields: Mapping[int, Mapping[str, Any]] | None = None
) -> list[int]:
    """Send in as few batch calls as fit (with each entry's further `fields`, by index); returns the indexes of the
    bodies SQS did not accept."""
    return [
        failed
        for batch in _batches(bodies)
        for failed in _send_batch(aws.sqs(), queue_url, {index: bodies[index] for index in batch}, fields)
    ]


def _send_all(queue_url: str, bodies: Sequence[str], what: str) -> None:
    """Send every body, resending the ones SQS did not accept; raises `NotQueued` if some still are not."""
    pending = list(bodies)
    for _ in range(_SEND_ATTEMPTS):
        if not pending:
            return
        pending = [pending[index] for index in _send_batches(queue_url, pending)]
    if pending:
        raise NotQueued(f"{len(pending)} {what} were not accepted by SQS")


class DeliveriesQueue:
    """The Deliveries queue, or (`ordered`) the released deliveries' FIFO queue (design §2.2, "Order"): there a job's
    message group is its destination (SQS hands out one group's messages in order, none while one is in flight) and
    its deduplication id its delivery id within its release (a page a release queues again within SQS's 5 minutes
    is queued once; a later release of the same delivery, held again by a second pause, is a new message: SQS drops
    a deduplication id it saw in the last 5 minutes even when that message is gone)."""

    def __init__(self, queue_url: str, *, ordered: bool = False) -> None:
        self._queue_url = queue_url
        self._ordered = ordered

    def send(self, job: DeliveryJob) -> None:
        if self.send_batches([job]):
            raise NotQueued("the delivery job was not accepted by SQS")

    def send_batches(
        self, jobs: Sequence[DeliveryJob], *, again: bool = False, release_id: str | None = None
    ) -> list[DeliveryJob]:
        """Queue each job once, `again` when another copy of it may have been queued before (e.g. a fan-out re-run);
        returns the jobs SQS did not accept. A batch whose first send got no answer is sent again, as `again`.
        `release_id`: the release the jobs are of (the FIFO queue's)."""
        return [jobs[index] for index in self._refused_indexes(jobs, [again] * len(jobs), release_id)]

    def _refused_indexes(
        self, jobs: Sequence[DeliveryJob], again: Sequence[bool], release_id: str | None = None
    ) -> list[int]:
        """`send_batches` with each job's own `again`; returns the indexes SQS did not accept."""
        first = [
            job.model_copy(update={"queued": "again" if queued_before else "once"}).model_dump_json()
            for job, queued_before in zip(jobs, again, strict=True)
        ]
        repeated = [job.model_copy(update={"queued": "again"}).model_dump_json() for job in jobs]
        fields = None
        if self._ordered:
            if release_id is None:
                raise ValueError("jobs queued on the released deliveries' FIFO queue name their release")
            fields = {
                index: {
                    "MessageGroupId": job.destination_id,
                    "MessageDeduplicationId": f"{job.delivery_id}/{release_id}",
                }
                for index, job in enumerate(jobs)
            }
        failed: list[int] = []
        for batch in _batches(repeated):  # sized for the longer bodies
            try:
                failed += _send_batch(
                    aws.sqs_first_try(), self._queue_url, {index: first[index] for index in batch}, fields
                )
            except (ClientError, BotoCoreError) as exc:  # perhaps queued all the same: the next copies say so
                logger.warning("a first send of delivery jobs failed; sending them again", extra={"error": repr(exc)})
                failed += _send_batch(aws.sqs(), self._queue_url, {index: repeated[index] for index in batch}, fields)
        return failed

    def send_later(self, jobs: Sequence[tuple[DeliveryJob, float]]) -> list[int]:
        """Queue each job to come in (at most MAX_DELAY_SECONDS) seconds: a released delivery leaving the FIFO queue
        for its retry (design §2.2, "Order"). Queued `again`: its record holds its schedule and decides, so a copy
        queued twice (botocore's retry after a lost answer) is sent once. Returns the indexes SQS did not accept."""
        bodies = [job.model_copy(update={"queued": "again"}).model_dump_json() for job, _ in jobs]
        fields = {index: {"DelaySeconds": min(MAX_DELAY_SECONDS, max(0, math.ceil(delay)))}
                  for index, (_, delay) in enumerate(jobs)}  # fmt: skip
        return _send_batches(self._queue_url, bodies, fields)

    def send_all(self, groups: Mapping[Owner, Sequence[DeliveryJob]], *, again: Collection[Owner] = ()) -> set[Owner]:
        """Queue the jobs of every group (e.g. each event's), several groups sharing a batch call (see
        `send_batches`; the groups in `again` may have had jobs queued before), sending again what SQS did not
        accept; returns the groups some of whose jobs SQS kept refusing."""
        owned = [(owner, job) for owner, jobs in groups.items() for job in jobs]
        pending = list(range(len(owned)))
        for attempt in range(_SEND_ATTEMPTS):
            if not pending:
                break
            queued_before = [attempt > 0 or owned[index][0] in again for index in pending]
            refused = self._refused_indexes([owned[index][1] for index in pending], queued_before)
            pending = [pending[index] for index in refused]
        return {owned[index][0] for index in pending}

    def schedule_returns(self, returns: Sequence[tuple[str, int]]) -> None:
        """Set when each returned message comes back: (receipt handle, seconds), 10 per call.

        A failure only makes a message come back later, after the queue's own visibility timeout: a retry still
        waits for its time, because the delivery's record holds `next_attempt_at`."""
        for start in range(0, len(returns), _BATCH_MESSAGES):
            chunk = returns[start : start + _BATCH_MESSAGES]
            entries: Any = [
                {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": delay}
                for index, (receipt, delay) in enumerate(chunk)
            ]
            try:
                response = aws.sqs().change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception:
                logger.warning("could not set when returned delivery jobs come back", exc_info=True)
                continue
            if failed := response.get("Failed", []):
                logger.warning(
                    "could not set when some returned delivery jobs come back", extra={"failed": len(failed)}
                )


class LiveEventsQueue:
    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url

    def send_batches(self, bodies: Sequence[str]) -> list[int]:
        """Queue raw canonical events once; returns the indexes SQS did not accept."""
        return _send_batches(self._queue_url, bodies)

    def publish_notices(self, notices: Sequence[dict[str, Any]]) -> None:
        """Operational notices go where fan-out routes them like any canonical event."""
        _send_all(self._queue_url, [json.dumps(notice) for notice in notices], "operational notices")


class RecoveriesQueue:
    """The next page of a recovery, release, expiry or sweep (design §2.2): one message per page, consumed by
    ContinueRecoveryFunction. A walk's message sent twice (a send whose answer was lost) is harmless: only one claims
    the page (storage/recoveries.py)."""

    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url

    def continue_walk(self, kind: str, workspace_id: str, destination_id: str, walk_id: str, *, delay: int) -> None:
        body = {"kind": kind, "workspace_id": workspace_id, "destination_id": destination_id, "id": walk_id}
        aws.sqs().send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(body), DelaySeconds=delay)

    def continue_sweep(self, cursor: str) -> None:
        """The sweep's next page of paused destinations (a copy sent twice starts their expiries twice: the second
        replaces the first, which stops)."""
        aws.sqs().send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({"kind": "sweep", "cursor": cursor}))


class InvalidEventsQueue:
    """The LiveEvents DLQ, where fan-out parks an event it can never route, with its reason."""

    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url

    def park(self, body: str, *, source_message_id: str, reason: str) -> None:
        aws.sqs().send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1000]},
                "source_message_id": {"DataType": "String", "StringValue": source_message_id},
            },
        )


def received_jobs(event: dict[str, Any]) -> tuple[list[ReceivedJob], list[str]]:
    """The delivery jobs of a batch from a delivery queue or its DLQ, each knowing its queue, and the ids of messages
    that are not jobs."""
    received: list[ReceivedJob] = []
    malformed: list[str] = []
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            job = DeliveryJob.model_validate_json(record.body)
        except ValidationError:
            malformed.append(record.message_id)
            continue
        receive_count = int(record.attributes.approximate_receive_count or 1)
        received.append(
            ReceivedJob(record.message_id, record.receipt_handle, receive_count, job, record.event_source_arn)
        )
    return received, malformed
