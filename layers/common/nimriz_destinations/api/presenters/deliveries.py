"""Delivery log, dead letter and parked-event records -> response models."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from ...models.deliveries import (
    AttemptOut,
    DeadLetterListResponse,
    DeadLetterOut,
    DeliveryDetail,
    DeliveryListResponse,
    DeliverySummaryOut,
    ParkedEventListResponse,
    ParkedEventOut,
    RecoveredOut,
    RecoverResponse,
    ReplayedOut,
    ReplayResponse,
)

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ...service.deliveries import Replayed
    from ...storage.deliveries import AttemptRecord, DeadLetter, DeliverySummary
    from ...storage.parked_events import ParkedEvent


def present_delivery(summary: DeliverySummary) -> DeliverySummaryOut:
    fields = asdict(summary)
    return DeliverySummaryOut.model_validate({"id": fields.pop("delivery_id"), **fields})


def present_delivery_detail(summary: DeliverySummary, attempts: list[AttemptRecord]) -> DeliveryDetail:
    log = [AttemptOut.model_validate({k: v for k, v in asdict(a).items() if k != "delivery_id"}) for a in attempts]
    return DeliveryDetail.model_validate({**present_delivery(summary).model_dump(), "attempt_log": log})


def present_delivery_page(summaries: list[DeliverySummary], next_cursor: str | None) -> DeliveryListResponse:
    return DeliveryListResponse(deliveries=[present_delivery(s) for s in summaries], next_cursor=next_cursor)


def present_dead_letter(letter: DeadLetter) -> DeadLetterOut:
    fields = asdict(letter)
    fields.pop("job")
    return DeadLetterOut.model_validate({"id": fields.pop("delivery_id"), **fields})


def present_dead_letter_page(letters: list[DeadLetter], next_cursor: str | None) -> DeadLetterListResponse:
    return DeadLetterListResponse(dead_letters=[present_dead_letter(d) for d in letters], next_cursor=next_cursor)


def present_replayed(replayed: list[Replayed]) -> ReplayResponse:
    return ReplayResponse(
        replayed=[
            ReplayedOut(dead_letter_id=r.dead_letter_id, delivery_id=r.delivery_id, event_id=r.event_id,
                        action_id=r.action_id)
            for r in replayed
        ]
    )  # fmt: skip


def present_parked_page(events: list[ParkedEvent], next_cursor: str | None) -> ParkedEventListResponse:
    items = [ParkedEventOut(id=e.id, event_id=e.event_id, event_type=e.event_type, reason=e.reason,
                            receive_count=e.receive_count, parked_at=e.parked_at) for e in events]  # fmt: skip
    return ParkedEventListResponse(parked_events=items, next_cursor=next_cursor)


def present_recovered(recovered: list[ParkedEvent]) -> RecoverResponse:
    return RecoverResponse(recovered=[RecoveredOut(id=event.id, event_id=event.event_id) for event in recovered])
