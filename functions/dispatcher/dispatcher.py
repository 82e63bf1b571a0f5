"""Deliveries and released deliveries' FIFO queue consumer: deliver jobs grouped by action, report as failed exactly
the records that went back to their queue."""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.observability import logger, metrics, trace_handler
from nimriz_destinations.runtime import deliveries_queue, dispatcher, live_events_queue, released_deliveries_queue
from nimriz_destinations.settings import check_settings
from nimriz_destinations.storage.queues import received_jobs

check_settings(dispatcher, deliveries_queue, released_deliveries_queue, live_events_queue)

# Failures here are flow control (a job back on the queue with its visibility set), not errors of the batch.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class ReturnedToQueue(Exception):
    """The job comes back after the visibility the dispatcher set: a scheduled retry, or not tried yet."""


class MalformedJob(Exception):
    """Not a delivery job: left to the queue's redrive policy, which parks it in the Deliveries DLQ."""


@metrics.log_metrics
@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    received, malformed = received_jobs(event)
    for message_id in malformed:
        logger.error("malformed delivery job", extra={"message_id": message_id})
    returned = dispatcher().dispatch(received, deadline=deadline)
    metrics.add_metric(name="DeliveriesProcessed", unit=MetricUnit.Count, value=len(received))
    metrics.add_metric(name="DeliveriesReturned", unit=MetricUnit.Count, value=len(returned))

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in malformed:
            raise MalformedJob(record.message_id)
        if record.message_id in returned:
            raise ReturnedToQueue(record.message_id)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
