"""LiveEvents DLQ consumer: events fan-out found invalid or kept failing on become visible, recoverable parked
events of their workspace (or, when they name none, of the operators' partition) instead of expiring unseen."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.observability import logger, metrics, trace_handler
from nimriz_destinations.runtime import parked_event_service
from nimriz_destinations.service.parked_events import DeadLetteredEvent
from nimriz_destinations.settings import check_settings

check_settings(parked_event_service)

processor = BatchProcessor(event_type=EventType.SQS)


def string_attribute(record: SQSRecord, name: str) -> str | None:
    attribute = (record.raw_event.get("messageAttributes") or {}).get(name) or {}
    value = attribute.get("stringValue")
    return str(value) if value is not None else None


def record_handler(record: SQSRecord) -> None:
    parked = parked_event_service().park(
        DeadLetteredEvent(
            message_id=record.message_id,
            body=record.body,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            sent_millis=int(record.attributes.sent_timestamp),
            invalid_reason=string_attribute(record, "reason"),
            source_message_id=string_attribute(record, "source_message_id"),
        )
    )
    metrics.add_metric(name="LiveEventsParked", unit=MetricUnit.Count, value=1)
    if parked.workspace_id is None:
        # Never the body: it is whatever arrived, and may carry visitor data.
        logger.error(
            "parked event names no workspace; kept for operators",
            extra={"message_id": record.message_id, "parked_id": parked.id, "reason": parked.reason},
        )
        metrics.add_metric(name="UnattributedParkedEvents", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
