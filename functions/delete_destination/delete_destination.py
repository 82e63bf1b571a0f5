"""DELETE /api/integrations/destinations/{id}"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_actor, current_workspace
from nimriz_destinations.api.responses.destinations import DELETE_RESPONSES
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_app("destinations:write", destination_service)


@app.delete(
    "/api/integrations/destinations/<destination_id>", summary="Delete a destination", responses=DELETE_RESPONSES
)
def delete_destination(destination_id: ResourceId) -> Response[None]:
    destination_service().delete(current_workspace(app), destination_id, actor=current_actor(app))
    logger.info("destination deleted", extra={"destination_id": destination_id})
    return Response(status_code=204)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
