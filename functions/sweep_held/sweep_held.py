"""Scheduled (EventBridge rule, every 15 minutes): expire what paused destinations hold past HOLD_MAX_SECONDS
(design §2.2). Bounded per run: one page of paused destinations; the rest continues through the Recoveries queue."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import recoveries_queue, recovery_service
from nimriz_destinations.settings import check_settings

check_settings(recovery_service, recoveries_queue)


@logger.inject_lambda_context
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    recovery_service().sweep()
