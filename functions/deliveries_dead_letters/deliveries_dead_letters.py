"""Deliveries DLQ consumer: jobs the dispatcher could not process repeatedly become replayable dead letters."""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.observability import logger, metrics, trace_handler
from nimriz_destinations.runtime import dispatcher
from nimriz_destinations.settings import check_settings
from nimriz_destinations.storage.queues import received_jobs

check_settings(dispatcher)

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class NotRecorded(Exception):
    """The dead letter could not be recorded yet: the message stays on the DLQ and comes back."""


@metrics.log_metrics
@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    received, malformed = received_jobs(event)
    for message_id in malformed:
        # Not a delivery job at all: nothing to replay. Logged (without the body) and dropped.
        logger.error("malformed message on the Deliveries DLQ dropped", extra={"message_id": message_id})
    not_recorded = dispatcher().dead_letter_abandoned(received, deadline=deadline)
    metrics.add_metric(name="AbandonedJobsDeadLettered", unit=MetricUnit.Count, value=len(received) - len(not_recorded))

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in not_recorded:
            raise NotRecorded(record.message_id)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
