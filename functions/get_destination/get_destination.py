"""GET /api/integrations/destinations/{id}"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.destinations import destination_answer
from nimriz_destinations.api.responses.destinations import GET_RESPONSES
from nimriz_destinations.models.destinations import DestinationResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_app("destinations:read", destination_service)


@app.get("/api/integrations/destinations/<destination_id>", summary="Get a destination", responses=GET_RESPONSES)
def get_destination(destination_id: ResourceId) -> Response[DestinationResponse]:
    record = destination_service().get(current_workspace(app).workspace_id, destination_id)
    return json_response(200, *destination_answer(record))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
