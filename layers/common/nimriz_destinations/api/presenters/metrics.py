"""Counted metrics and volume estimates -> response models."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ...models.metrics import ActionEstimate, ActionMetrics, DestinationMetrics, Estimate, MetricCounts

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ...service.metrics import VolumeEstimate, WindowMetrics
    from ...storage.counters import Counts


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
