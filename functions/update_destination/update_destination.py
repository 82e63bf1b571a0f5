"""PUT /api/integrations/destinations/{id}"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_actor, current_workspace, json_response
from nimriz_destinations.api.params import IfMatch
from nimriz_destinations.api.presenters.destinations import present_destination
from nimriz_destinations.api.responses.destinations import UPDATE_RESPONSES
from nimriz_destinations.models.destinations import DestinationResponse, DestinationUpdate
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_app("destinations:write", destination_service)


@app.put("/api/integrations/destinations/<destination_id>", summary="Update a destination", responses=UPDATE_RESPONSES)
def update_destination(
    destination_id: ResourceId,
    body: Annotated[DestinationUpdate, Body()],
    if_match: IfMatch = None,
) -> Response[DestinationResponse]:
    saved = destination_service().update(
        current_workspace(app), destination_id, body, if_match=if_match, actor=current_actor(app)
    )
    logger.info("destination updated", extra={"destination_id": saved.record.id, "version": saved.record.version})
    response = DestinationResponse(destination=present_destination(saved.record, saved.revealed))
    return json_response(200, response, {"ETag": saved.record.etag})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
