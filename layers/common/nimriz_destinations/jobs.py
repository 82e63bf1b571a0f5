"""The delivery job: the Deliveries (and released deliveries') queue message body, produced by test-send, fan-out,
replay, recovery and release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DeliveryReason = Literal["live", "replay", "test"]
# How its producer queued a job (design §2, "A delivery's life"): `once` in a first send, so no other copy of it was
# queued; `again` after a send whose outcome was unknown, or by a fan-out re-run of its event, so another copy may be
# in flight. None (a job queued without saying): unknown.
Queued = Literal["once", "again"]


class DeliveryJob(BaseModel):
    # Built at first use, not at import (as every model of the package): an API function may never queue a job.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    job_version: Literal[1] = 1
    delivery_id: str
    workspace_id: str
    organization_id: str
    destination_id: str
    action_id: str
    reason: DeliveryReason
    event: dict[str, Any]
    queued_at: str
    queued: Queued | None = None
    # The attempt this job's first send is: a delivery recovered or released after attempts goes on from them, and
    # that send carries the job's reason (`replay`, `live`), the later ones `retry` (outcomes.attempt_reason).
    first_attempt: int = 1


@dataclass(frozen=True, slots=True)
class ReceivedJob:
    """A delivery job as a queue handed it over."""

    message_id: str
    receipt_handle: str
    receive_count: int  # SQS ApproximateReceiveCount: how often the queue handed it out (not how often it was sent)
    job: DeliveryJob
    queue_arn: str = ""  # the queue it came from (the SQS record's eventSourceARN)

    @property
    def ordered(self) -> bool:
        """Whether it came from the released deliveries' FIFO queue (design §2.2, "Order"), whose jobs keep their
        order per destination (its message group). SQS requires a FIFO queue's name to end in `.fifo`."""
        return self.queue_arn.endswith(".fifo")

    @property
    def destination(self) -> tuple[str, str]:
        """(workspace id, destination id): the key of its circuit and health."""
        return self.job.workspace_id, self.job.destination_id
