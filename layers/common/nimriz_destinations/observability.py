"""Powertools singletons: create once per execution environment, never per request."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics, MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools.tracing import Tracer

logger = Logger()
metrics = Metrics()


@functools.cache
def tracer() -> Tracer:
    """Made at the first traced call, not at import: the X-Ray SDK builds an X-Ray client when it is imported, which
    would double a handler module's import time where tracing is on."""
    from aws_lambda_powertools.tracing import Tracer

    # AWS calls only: X-Ray's httpx/httplib patches record request URLs, and some providers carry credentials in
    # theirs (GA4's api_secret). The layer carries the X-Ray SDK without its botocore (layers/common/Makefile).
    return Tracer(patch_modules=["botocore"])


def trace_handler[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    """A Lambda handler in its own X-Ray subsegment (with the cold start annotated). Neither the response nor an
    error is recorded in the trace: a create response reveals a generated signing secret once. Botocore is patched
    at the first call, before the handler can make an AWS client (they are made on first use: `aws`)."""
    traced: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def lambda_handler(event: Any, context: Any) -> Any:
        if not traced:
            traced.append(tracer().capture_lambda_handler(handler, capture_response=False, capture_error=False))
        return traced[0](event, context)

    return cast(Handler, lambda_handler)


# EMF keeps at most this many values of one metric in one document.
_MAX_VALUES_PER_METRIC = 100
# Deliveries a provider refused because it no longer serves the pinned API version (`api_version_retired`).
API_VERSION_RETIRED_METRIC = "ApiVersionRetired"
# 500s the API answered itself (a handled error is a response, so Lambda's `Errors` never sees it).
API_SERVER_ERRORS_METRIC = "ApiServerErrors"


class DeliveryMetricNames(NamedTuple):
    delivered: str
    failed: str
    throttled: str
    dead_lettered: str
    latency: str


# Live deliveries (replays included) and test-sends, counted apart: a customer trying a destination out says
# nothing about the service, so the alarms and the dashboard count live deliveries only (docs/operations.md).
LIVE_DELIVERY_METRICS = DeliveryMetricNames("Delivered", "Failed", "Throttled", "DeadLettered", "Latency")
TEST_SEND_METRICS = DeliveryMetricNames(
    "TestSendDelivered", "TestSendFailed", "TestSendThrottled", "TestSendDeadLettered", "TestSendLatency"
)


@dataclass(slots=True)
class DeliveryTally:
    """One batch's outcomes for one destination type, as operators' metrics count them."""

    delivered: int = 0
    failed: int = 0  # attempts sent that did not deliver, throttled ones apart
    throttled: int = 0  # attempts a provider's rate limit refused (design §8.1): not failures
    dead_lettered: int = 0
    version_retired: int = 0  # outcomes `api_version_retired`
    latencies_ms: list[int] = field(default_factory=list)

    def add(
        self,
        status: str,
        *,
        failed: bool,
        latency_ms: int | None,
        throttled: bool = False,
        version_retired: bool = False,
    ) -> None:
        self.delivered += status == "delivered"
        self.dead_lettered += status == "dead_lettered"
        self.failed += failed
        self.throttled += throttled
        self.version_retired += version_retired
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)


def emit_delivery_metrics(
    tallies: Mapping[str, DeliveryTally], *, test_sends: Mapping[str, DeliveryTally] | None = None
) -> None:
    """EMF documents in the function's log: per destination type (the `destination_type` dimension) the counts
    `Delivered`, `Failed`, `Throttled`, `DeadLettered` and `Latency` (ms) of live deliveries, and the same under
    `TestSend…` names for test-sends; the live counts once more without that dimension, the totals the delivery
    alarms divide; and `ApiVersionRetired` without it too, so one alarm sees every type (the type is in the
    document, for Logs Insights)."""
    for names, by_type in ((LIVE_DELIVERY_METRICS, tallies), (TEST_SEND_METRICS, test_sends or {})):
        for destination_type, tally in by_type.items():
            if tally.version_retired:
                retired = EphemeralMetrics()
                retired.add_metric(name=API_VERSION_RETIRED_METRIC, unit=MetricUnit.Count, value=tally.version_retired)
                retired.add_metadata(key="destination_type", value=destination_type)
                retired.flush_metrics()
            _emit_tally(names, tally, {"destination_type": destination_type})
    if tallies:
        total = DeliveryTally()
        for tally in tallies.values():
            total.delivered += tally.delivered
            total.failed += tally.failed
            total.throttled += tally.throttled
            total.dead_lettered += tally.dead_lettered
        _emit_tally(LIVE_DELIVERY_METRICS, total, {})


def _emit_tally(names: DeliveryMetricNames, tally: DeliveryTally, dimensions: Mapping[str, str]) -> None:
    latencies = tally.latencies_ms
    for start in range(0, max(len(latencies), 1), _MAX_VALUES_PER_METRIC):
        emf = EphemeralMetrics()  # not the shared `metrics`: its dimensions would apply to everything it flushes
        for name, value in dimensions.items():
            emf.add_dimension(name=name, value=value)
        if start == 0:
            emf.add_metric(name=names.delivered, unit=MetricUnit.Count, value=tally.delivered)
            emf.add_metric(name=names.failed, unit=MetricUnit.Count, value=tally.failed)
            emf.add_metric(name=names.throttled, unit=MetricUnit.Count, value=tally.throttled)
            emf.add_metric(name=names.dead_lettered, unit=MetricUnit.Count, value=tally.dead_lettered)
        for latency in latencies[start : start + _MAX_VALUES_PER_METRIC]:
            emf.add_metric(name=names.latency, unit=MetricUnit.Milliseconds, value=latency)
        emf.flush_metrics()


def count_api_server_error(api: str) -> None:
    """One handled 500 of the API `api` (`workspace` or `admin`), as its own EMF document: API functions flush no
    shared metrics, and the count must reach the log even though the request failed."""
    emf = EphemeralMetrics()
    emf.add_dimension(name="api", value=api)
    emf.add_metric(name=API_SERVER_ERRORS_METRIC, unit=MetricUnit.Count, value=1)
    emf.flush_metrics()
