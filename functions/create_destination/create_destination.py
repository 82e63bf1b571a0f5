"""POST /api/integrations/destinations"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_actor, current_workspace, json_response
from nimriz_destinations.api.presenters import present_destination
from nimriz_destinations.api.responses import CREATE_RESPONSES
from nimriz_destinations.models import DestinationCreate, DestinationResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_app("destinations:write", destination_service)


@app.post("/api/integrations/destinations", summary="Create a destination", responses=CREATE_RESPONSES)
def create_destination(body: Annotated[DestinationCreate, Body()]) -> Response[DestinationResponse]:
    saved = destination_service().create(current_workspace(app), body, actor=current_actor(app))
    logger.info("destination created", extra={"destination_id": saved.record.id, "type": saved.record.type})
    response = DestinationResponse(destination=present_destination(saved.record, saved.revealed))
    return json_response(201, response, headers={"ETag": saved.record.etag})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
