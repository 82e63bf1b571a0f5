"""The delivery job: the Deliveries queue message body, produced by test-send, fan-out and replay."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DeliveryReason = Literal["live", "replay", "test"]


class DeliveryJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_version: Literal[1] = 1
    delivery_id: str
    workspace_id: str
    organization_id: str
    destination_id: str
    action_id: str
    reason: DeliveryReason
    event: dict[str, Any]
    queued_at: str
