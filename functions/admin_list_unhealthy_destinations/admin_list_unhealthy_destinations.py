"""GET /admin/destinations?health=failing|disabled (admin API, AWS_IAM): support's view across workspaces"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, json_response
from nimriz_destinations.api.params import Cursor, Limit
from nimriz_destinations.api.presenters.destinations import present_unhealthy_destinations
from nimriz_destinations.api.responses.destinations import LIST_UNHEALTHY_DESTINATIONS_RESPONSES
from nimriz_destinations.models.destinations import UnhealthyDestinationListResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service
from nimriz_destinations.storage.records import UnhealthyState

app = create_admin_app(destination_service)


@app.get(
    "/admin/destinations",
    summary="Failing or disabled destinations of every workspace, the most recent transitions first",
    responses=LIST_UNHEALTHY_DESTINATIONS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def list_unhealthy_destinations(
    health: Annotated[UnhealthyState, Query(description="Which destinations: `failing` or `disabled`.")],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response[UnhealthyDestinationListResponse]:
    page = destination_service().list_by_health(health, limit=limit, cursor=cursor)
    return json_response(200, present_unhealthy_destinations(*page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
