"""Deliveries DLQ consumer: jobs the dispatcher could not process repeatedly become replayable dead letters."""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from nimriz_destinations.delivery.dispatcher import ReceivedJob
from nimriz_destinations.jobs import DeliveryJob
from nimriz_destinations.observability import logger, metrics, trace_handler
from nimriz_destinations.runtime import dispatcher

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class NotRecorded(Exception):
    """The dead letter could not be recorded yet: the message stays on the DLQ and comes back."""


@metrics.log_metrics
@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    received = []
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            job = DeliveryJob.model_validate_json(record.body)
        except ValidationError:
            # Not a delivery job at all: nothing to replay. Logged (without the body) and dropped.
            logger.error("malformed message on the Deliveries DLQ dropped", extra={"message_id": record.message_id})
            continue
        receive_count = int(record.attributes.approximate_receive_count or 1)
        received.append(ReceivedJob(record.message_id, record.receipt_handle, receive_count, job))
    not_recorded = dispatcher().park(received, deadline=deadline)
    metrics.add_metric(name="DeliveriesParked", unit=MetricUnit.Count, value=len(received) - len(not_recorded))

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in not_recorded:
            raise NotRecorded(record.message_id)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
