"""Recoveries queue consumer: the next page of a recovery, a resume's release, an expiry or the sweep (design §2.2)."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import (
    deliveries_queue,
    recoveries_queue,
    recovery_service,
    released_deliveries_queue,
)
from nimriz_destinations.settings import check_settings

check_settings(recovery_service, deliveries_queue, released_deliveries_queue, recoveries_queue)

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    """A failure returns the message: it comes back and queues its page again (the claim is its message id's)."""
    page = json.loads(record.body)
    if page["kind"] == "sweep":
        recovery_service().sweep(page["cursor"])
        return
    recovery_service().continue_walk(
        page["kind"], page["workspace_id"], page["destination_id"], page["id"], token=record.message_id
    )


@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
