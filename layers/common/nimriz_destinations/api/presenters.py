"""Records -> response models. Credentials are always the stored redacted hints (plus secrets revealed once)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..models import (
    Action,
    ActionEstimate,
    ActionMetrics,
    ActionPreviewOut,
    ApiKeyCreatedResponse,
    ApiKeyOut,
    AttemptOut,
    AuditEntryOut,
    DeadLetterListResponse,
    DeadLetterOut,
    DeliveryDetail,
    DeliveryListResponse,
    DeliveryRate,
    DeliverySummaryOut,
    Destination,
    DestinationMetrics,
    DestinationResponse,
    Estimate,
    FilterVerdictOut,
    Health,
    LimitsOut,
    LimitsResponse,
    MetricCounts,
    ParkedEventListResponse,
    ParkedEventOut,
    ProviderValidationOut,
    QuotasOut,
    QuotasResponse,
    RecoveredOut,
    RecoverResponse,
    ReplayedOut,
    ReplayResponse,
    UnhealthyDestination,
    UnhealthyDestinationListResponse,
    ValidationMessageOut,
    ValidationOut,
)
from ..providers import get_provider

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ..limits import Limits
    from ..quotas import Quotas
    from ..service.api_keys import IssuedKey
    from ..service.deliveries import Replayed
    from ..service.metrics import VolumeEstimate, WindowMetrics
    from ..service.preview import ActionPreview
    from ..service.validation import Validation
    from ..storage.api_keys import ApiKeyRecord
    from ..storage.audit import AuditEntry
    from ..storage.counters import Counts
    from ..storage.deliveries import AttemptRecord, DeadLetter, DeliverySummary
    from ..storage.parked_events import ParkedEvent
    from ..storage.records import DestinationRecord, ShownCircuit


def _shown_circuit(record: DestinationRecord) -> ShownCircuit:
    return record.circuit.shown_state(time.time()) if record.circuit else "closed"


def _health(record: DestinationRecord, circuit: ShownCircuit) -> Health:
    return Health.model_validate({**asdict(record.health_view()), "circuit": circuit})


def present_destination(record: DestinationRecord, revealed: dict[str, Any] | None = None) -> Destination:
    circuit = _shown_circuit(record)
    return Destination(
        id=record.id,
        workspace_id=record.workspace_id,
        name=record.name,
        type=record.type,
        enabled=record.enabled,
        credentials={**record.credential_hints, **(revealed or {})},
        warnings=get_provider(record.type).credential_warnings(record.credential_hints),
        credentials_expire_at=record.credentials_expire_at,
        actions=[
            Action.model_validate(
                {
                    "id": action.id,
                    "name": action.name,
                    "action_type": action.action_type,
                    "enabled": action.enabled,
                    "property_mapping": action.property_mapping,
                    "event_filter": action.event_filter,
                    "settings": action.settings,
                    "health": {**asdict(record.action_health_view(action)), "circuit": circuit},
                    "created_at": action.created_at,
                    "updated_at": action.updated_at,
                }
            )
            for action in record.actions
        ],
        health=_health(record, circuit),
        paused=record.paused,
        delivery_rate=None if record.delivery_rate is None else DeliveryRate(per_second=record.delivery_rate),
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def destination_answer(record: DestinationRecord) -> tuple[DestinationResponse, dict[str, str]]:
    """A destination read or enabled, and its ETag header."""
    return DestinationResponse(destination=present_destination(record)), {"ETag": record.etag}


def present_unhealthy_destinations(
    records: list[DestinationRecord], next_cursor: str | None
) -> UnhealthyDestinationListResponse:
    destinations = [
        UnhealthyDestination(
            workspace_id=record.workspace_id,
            id=record.id,
            name=record.name,
            type=record.type,
            enabled=record.enabled,
            health=_health(record, _shown_circuit(record)),
        )
        for record in records
    ]
    return UnhealthyDestinationListResponse(destinations=destinations, next_cursor=next_cursor)


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


def present_preview(preview: ActionPreview) -> ActionPreviewOut:
    return ActionPreviewOut(
        action_id=preview.action_id,
        name=preview.name,
        action_type=preview.action_type,  # type: ignore[arg-type]
        enabled=preview.enabled,
        filter=FilterVerdictOut(passed=preview.passed, rejected_by=preview.rejected_by),
        payload=preview.payload,
        requests=preview.requests,
        note=preview.note,
    )


def present_validation(validation: Validation) -> ValidationOut:
    verdict = validation.provider
    return ValidationOut(
        action_id=validation.action_id,
        event_type=validation.event_type,
        filter="matched" if validation.matched else "filtered_out",
        rejected_by=validation.rejected_by,
        request=validation.request,
        provider=ProviderValidationOut(
            status=verdict.status,
            channel=verdict.channel,
            messages=[ValidationMessageOut(**asdict(message)) for message in verdict.messages],
        ),
    )


def present_api_key(key: ApiKeyRecord) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        label=key.label,
        scopes=list(key.scopes),  # type: ignore[arg-type]  # stored scopes are canonical (scopes.canonical_scopes)
        prefix=key.prefix,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
    )


def present_issued_key(issued: IssuedKey) -> ApiKeyCreatedResponse:
    return ApiKeyCreatedResponse(api_key=present_api_key(issued.key), secret=issued.secret)


def present_quotas(quotas: Quotas) -> QuotasResponse:
    return QuotasResponse(quotas=QuotasOut(**quotas.as_dict()))


def present_limits(limits: Limits) -> LimitsResponse:
    return LimitsResponse(limits=LimitsOut(**limits.as_dict()))


def present_audit_entry(entry: AuditEntry) -> AuditEntryOut:
    fields = asdict(entry)
    del fields["workspace_id"]  # the caller's own workspace
    return AuditEntryOut.model_validate(fields)


def present_metrics(metrics: WindowMetrics) -> DestinationMetrics:
    return DestinationMetrics(
        window=metrics.window,  # type: ignore[arg-type]
        starts_at=metrics.starts_at,
        actions=[ActionMetrics(action_id=action_id, **_counts(counts)) for action_id, counts in metrics.actions],
        totals=MetricCounts(**_counts(metrics.totals)),
        throttled_backlog=metrics.throttled_backlog,
        oldest_pending_seconds=metrics.oldest_pending_seconds,
    )


def present_estimate(estimate: VolumeEstimate) -> Estimate:
    return Estimate(
        window=estimate.window,  # type: ignore[arg-type]
        actions=[ActionEstimate.model_validate(asdict(action)) for action in estimate.actions],
    )


def _counts(counts: Counts) -> dict[str, Any]:
    return {
        # matched_disabled is the volume estimate's (present_estimate), not a delivery number
        **{name: value for name, value in asdict(counts).items() if name not in ("latency", "matched_disabled")},
        "p50_latency_ms": counts.latency_percentile(0.5),
        "p95_latency_ms": counts.latency_percentile(0.95),
    }
