"""Records -> response models. Credentials are always the stored redacted hints (plus secrets revealed once)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..models import (
    Action,
    ActionMetrics,
    ActionPreviewOut,
    ApiKeyCreatedResponse,
    ApiKeyOut,
    AttemptOut,
    AuditEntryOut,
    DeadLetterOut,
    DeliveryDetail,
    DeliverySummaryOut,
    Destination,
    DestinationMetrics,
    FilterVerdictOut,
    Health,
    MetricCounts,
    QuotasOut,
    QuotasResponse,
)
from ..providers import get_provider

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ..quotas import Quotas
    from ..service.api_keys import IssuedKey
    from ..service.metrics import WindowMetrics
    from ..service.preview import ActionPreview
    from ..storage.api_keys import ApiKeyRecord
    from ..storage.audit import AuditEntry
    from ..storage.counters import Counts
    from ..storage.deliveries import AttemptRecord, DeadLetter, DeliverySummary
    from ..storage.records import DestinationRecord, ShownCircuit


def present_destination(record: DestinationRecord, revealed: dict[str, Any] | None = None) -> Destination:
    circuit: ShownCircuit = record.circuit.shown_state(time.time()) if record.circuit else "closed"
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
        health=Health.model_validate({**asdict(record.health_view()), "circuit": circuit}),
        paused=record.paused,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def present_delivery(summary: DeliverySummary) -> DeliverySummaryOut:
    fields = asdict(summary)
    return DeliverySummaryOut.model_validate({"id": fields.pop("delivery_id"), **fields})


def present_delivery_detail(summary: DeliverySummary, attempts: list[AttemptRecord]) -> DeliveryDetail:
    log = [AttemptOut.model_validate({k: v for k, v in asdict(a).items() if k != "delivery_id"}) for a in attempts]
    return DeliveryDetail.model_validate({**present_delivery(summary).model_dump(), "attempt_log": log})


def present_dead_letter(letter: DeadLetter) -> DeadLetterOut:
    fields = asdict(letter)
    fields.pop("job")
    return DeadLetterOut.model_validate({"id": fields.pop("delivery_id"), **fields})


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
    )


def _counts(counts: Counts) -> dict[str, Any]:
    return {
        **{name: value for name, value in asdict(counts).items() if name != "latency"},
        "p50_latency_ms": counts.latency_percentile(0.5),
        "p95_latency_ms": counts.latency_percentile(0.95),
    }
