"""POST /api/integrations/parked-events/recover"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.deliveries import present_recovered
from nimriz_destinations.api.responses.deliveries import RECOVER_PARKED_EVENTS_RESPONSES
from nimriz_destinations.models.deliveries import RecoverRequest, RecoverResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import live_events_queue, parked_event_service

app = create_app("deliveries:replay", parked_event_service, live_events_queue)


@app.post(
    "/api/integrations/parked-events/recover",
    summary="Queue parked events for fan-out again (all, or a list of ids), with their original event ids",
    responses=RECOVER_PARKED_EVENTS_RESPONSES,
)
def recover_parked_events(body: Annotated[RecoverRequest | None, Body()] = None) -> Response[RecoverResponse]:
    ids = body.ids if body else None
    recovered = parked_event_service().recover(current_workspace(app).workspace_id, ids)
    logger.info("parked events recovered", extra={"count": len(recovered)})
    return json_response(202, present_recovered(recovered))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
