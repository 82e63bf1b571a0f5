"""GET /api/integrations/destinations"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.destinations import present_destination
from nimriz_destinations.api.responses.destinations import LIST_RESPONSES
from nimriz_destinations.models.destinations import DestinationListResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_app("destinations:read", destination_service)


@app.get("/api/integrations/destinations", summary="List destinations", responses=LIST_RESPONSES)
def list_destinations(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the previous page.")] = None,
) -> Response[DestinationListResponse]:
    records, next_cursor = destination_service().list_page(current_workspace(app), limit=limit, cursor=cursor)
    body = DestinationListResponse(destinations=[present_destination(r) for r in records], next_cursor=next_cursor)
    return json_response(200, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
