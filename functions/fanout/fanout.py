"""LiveEvents queue consumer: validate each canonical event, queue one delivery job per matching action.

Workspaces take turns within a batch, and one past its share of the batch's routing time has its remaining
events returned to the queue for a later batch (design §2)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.delivery.fanout import EventDeferred, FanOutBatch, InvalidEvent, Routing
from nimriz_destinations.observability import logger, metrics, trace_handler
from nimriz_destinations.runtime import deliveries_queue, fan_out, invalid_events_queue

processor = BatchProcessor(event_type=EventType.SQS)


def route_record(record: SQSRecord, batch: FanOutBatch) -> Routing | None:
    """Queue the event's delivery jobs; returns its routing (None for an invalid event, dead-lettered).

    Jobs SQS keeps refusing raise `NotQueued`, and an event of a workspace past its share of the batch raises
    `EventDeferred`: the event comes back and is fanned out again (same delivery ids)."""
    try:
        routing = batch.route(record.message_id)
    except InvalidEvent as invalid:
        park_invalid_event(record, str(invalid))
        return None
    except EventDeferred as deferred:
        logger.warning(
            "event deferred to a later batch",
            extra={"message_id": record.message_id, "workspace_id": deferred.workspace_id, "reason": str(deferred)},
        )
        metrics.add_metric(name="DeferredEvents", unit=MetricUnit.Count, value=1)
        raise
    deliveries_queue().send_all(routing.jobs)
    metrics.add_metric(name="DeliveryJobsQueued", unit=MetricUnit.Count, value=len(routing.jobs))
    logger.debug("event fanned out", extra={"message_id": record.message_id, "jobs": len(routing.jobs)})
    return routing


def park_invalid_event(record: SQSRecord, reason: str) -> None:
    """Not retried forever: the message goes to the LiveEvents DLQ with its reason, and is logged."""
    logger.warning("invalid canonical event dead-lettered", extra={"message_id": record.message_id, "reason": reason})
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    invalid_events_queue().park(record.body, source_message_id=record.message_id, reason=reason)


@metrics.log_metrics
@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    routed: list[Routing] = []  # events fanned out in this batch (a failed one comes back and is counted then)
    batch = fan_out().batch([(record["messageId"], record["body"]) for record in event["Records"]])
    records = {record["messageId"]: record for record in event["Records"]}

    def record_handler(record: SQSRecord) -> None:
        routing = route_record(record, batch)
        if routing is not None:
            routed.append(routing)

    response = process_partial_response(
        event={**event, "Records": [records[message_id] for message_id in batch.order]},
        record_handler=record_handler,
        processor=processor,
        context=context,
    )
    fan_out().count(routed)
    return response
