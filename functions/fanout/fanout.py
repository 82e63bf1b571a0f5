"""LiveEvents queue consumer: validate each canonical event, queue one delivery job per matching action (the
batch's jobs together, in as few SendMessageBatch calls as fit).

Workspaces take turns within a batch, and one past its share of the batch's routing time has its remaining
events returned to the queue for a later batch (design §2)."""

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.delivery.fanout import EventDeferred, FanOutBatch, InvalidEvent, Routing
from nimriz_destinations.observability import logger, metrics, trace_handler
from nimriz_destinations.runtime import deliveries_queue, fan_out, invalid_events_queue
from nimriz_destinations.settings import check_settings

check_settings(fan_out, deliveries_queue, invalid_events_queue)

processor = BatchProcessor(event_type=EventType.SQS)


def route_record(record: SQSRecord, batch: FanOutBatch) -> Routing | None:
    """The event's routing, its jobs to be queued with the batch's (`queue_jobs`); None for an invalid event, parked
    at once. An event of a workspace past its share of the batch raises `EventDeferred`: the event comes back and is
    fanned out again (same delivery ids)."""
    with failures_logged(record, batch.event_id(record.message_id)):
        try:
            return batch.route(record.message_id)
        except InvalidEvent as invalid:
            park_invalid_event(record, invalid)
            return None
        except EventDeferred as deferred:
            logger.warning(
                "event deferred to a later batch",
                extra={"message_id": record.message_id, "workspace_id": deferred.workspace_id, "reason": str(deferred)},
            )
            metrics.add_metric(name="DeferredEvents", unit=MetricUnit.Count, value=1)
            raise


def queue_jobs(routed: Mapping[str, Routing], seen_before: Collection[str]) -> set[str]:
    """Queue the jobs of every routed event of the batch together, ten to a SendMessageBatch whatever event they came
    from (design §2); an event received before (`seen_before`, message ids) may have had some of its jobs queued
    then, and its jobs say so for the dispatcher. Returns the message ids of the events some of whose jobs SQS kept
    refusing: they come back and are fanned out again (same delivery ids, so what was queued is not sent twice)."""
    try:
        jobs = {message_id: routing.jobs for message_id, routing in routed.items()}
        refused = deliveries_queue().send_all(jobs, again=seen_before)
    except Exception:
        event_ids = [routing.event_id for routing in routed.values()]
        logger.exception("could not queue the batch's delivery jobs; SQS will retry", extra={"event_ids": event_ids})
        return set(routed)
    for message_id, routing in routed.items():
        if message_id in refused:
            logger.error(
                "delivery jobs not accepted by SQS; SQS will retry",
                extra={"event_id": routing.event_id, "message_id": message_id},
            )
            continue
        metrics.add_metric(name="DeliveryJobsQueued", unit=MetricUnit.Count, value=len(routing.jobs))
        if routing.over_quota:
            logger.warning(
                "matches over the workspace's deliveries_per_event quota were not queued",
                extra={
                    "event_id": routing.event_id,
                    "workspace_id": routing.workspace_id,
                    "not_queued": routing.over_quota,
                },
            )
            metrics.add_metric(name="DeliveriesOverQuota", unit=MetricUnit.Count, value=routing.over_quota)
        logger.debug("event fanned out", extra={"event_id": routing.event_id, "jobs": len(routing.jobs)})
    return refused


@contextmanager
def failures_logged(record: SQSRecord, event_id: str | None) -> Iterator[None]:
    """Log any exception at error level with the event's id (never its body), then let it go on: the message
    comes back from SQS and is tried again, up to 5 receives before it is parked (design §8.6)."""
    try:
        yield
    except EventDeferred:
        raise  # not a failure: logged as a deferral
    except Exception:
        logger.exception(
            "fan-out failed; SQS will retry", extra={"event_id": event_id, "message_id": record.message_id}
        )
        raise


def park_invalid_event(record: SQSRecord, invalid: InvalidEvent) -> None:
    """Not retried forever: the message goes to the LiveEvents DLQ with its reason, and is logged."""
    reason = str(invalid)
    logger.warning(
        "invalid canonical event dead-lettered",
        extra={"event_id": invalid.event_id, "message_id": record.message_id, "reason": reason},
    )
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    invalid_events_queue().park(record.body, source_message_id=record.message_id, reason=reason)


@metrics.log_metrics
@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    routed: dict[str, Routing] = {}  # message id -> the routing of its event
    batch = fan_out().batch([(record["messageId"], record["body"]) for record in event["Records"]])
    records = {record["messageId"]: record for record in event["Records"]}

    def record_handler(record: SQSRecord) -> None:
        routing = route_record(record, batch)
        if routing is not None:
            routed[record.message_id] = routing

    response = process_partial_response(
        event={**event, "Records": [records[message_id] for message_id in batch.order]},
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
    seen_before = {
        record["messageId"]
        for record in event["Records"]
        if int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")) > 1
    }
    refused = queue_jobs(routed, seen_before)
    response["batchItemFailures"] += [{"itemIdentifier": message_id} for message_id in sorted(refused)]
    # A refused event comes back and is counted then.
    fan_out().count(routing for message_id, routing in routed.items() if message_id not in refused)
    return response
