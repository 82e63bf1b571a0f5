"""API models of a destination's delivery metrics and its volume estimate."""

from typing import Literal

from pydantic import Field

from .base import ApiModel

# The metrics route counts a destination's throttled backlog up to this many deliveries (storage/deliveries.py).
BACKLOG_COUNT_LIMIT = 10_000

MetricsWindow = Literal["1h", "24h", "7d"]


class MetricCounts(ApiModel):
    matched: int = Field(description="Events the action's filter passed (a delivery was queued).")
    filtered_out: int = Field(description="Events the action's filter rejected.")
    delivered: int = Field(description="Deliveries delivered.")
    failed: int = Field(description="Attempts sent that did not deliver (each retry counts).")
    retrying: int = Field(description="Failed attempts that were scheduled to be retried.")
    throttled: int = Field(
        description="Attempts the provider's rate limit refused, tried again at its time; not counted in failed."
    )
    dead_lettered: int = Field(description="Deliveries that became dead letters.")
    skipped: int = Field(description="Deliveries deliberately not sent (e.g. disabled, not applicable).")
    p50_latency_ms: int | None = Field(
        description="Median request latency, as the upper bound of its histogram bin; null without requests."
    )
    p95_latency_ms: int | None = Field(description="95th percentile request latency, like p50_latency_ms.")


class ActionMetrics(MetricCounts):
    action_id: str


class DestinationMetrics(ApiModel):
    window: MetricsWindow
    starts_at: str = Field(
        description="Start of the first hourly bucket counted: windows cover whole UTC hours, the current one included."
    )
    actions: list[ActionMetrics] = Field(description="Every current action of the destination.")
    totals: MetricCounts = Field(description="Across the listed actions (latency percentiles over all of them).")
    throttled_backlog: int = Field(
        description="Deliveries of the destination now waiting for its delivery rate (status `throttled`), counted "
        f"up to {BACKLOG_COUNT_LIMIT} (that number means at least as many)."
    )
    oldest_pending_seconds: int | None = Field(
        description="Age in seconds of the oldest delivery of the destination waiting for a next try (status "
        "`throttled` or `retrying`: its delivery rate, a provider's wait or a retry), from its event's occurred_at "
        "(a replay or test: when it was queued); null when none waits. Jobs never tried yet are not included."
    )


class DestinationMetricsResponse(ApiModel):
    metrics: DestinationMetrics


class ActionEstimate(ApiModel):
    action_id: str
    enabled: bool = Field(description="The action's own flag; the destination's is the destination's `enabled`.")
    matched: int = Field(
        description="Events the action's filter passed in the window, whether it (or its destination) was enabled "
        "and sent them or disabled and sent nothing."
    )
    matched_per_day: float = Field(
        description="`matched` per day over the time counted: the window, from the action's creation if later, and "
        "at least an hour."
    )


class Estimate(ApiModel):
    window: MetricsWindow
    actions: list[ActionEstimate] = Field(description="Every current action of the destination, enabled or not.")


class EstimateResponse(ApiModel):
    estimate: Estimate
