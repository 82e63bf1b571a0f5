"""GET /admin/workspaces/{workspace_id}/destinations/{id} (admin API, AWS_IAM): support's view of the workspace route"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_admin_app, json_response
from nimriz_destinations.api.params import WorkspaceId
from nimriz_destinations.api.presenters.destinations import destination_answer
from nimriz_destinations.api.responses.destinations import SUPPORT_GET_RESPONSES
from nimriz_destinations.models.destinations import DestinationResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_admin_app(destination_service)


@app.get(
    "/admin/workspaces/<workspace_id>/destinations/<destination_id>",
    summary="A workspace's destination, as its workspace sees it",
    responses=SUPPORT_GET_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_get_destination(workspace_id: WorkspaceId, destination_id: ResourceId) -> Response[DestinationResponse]:
    return json_response(200, *destination_answer(destination_service().get(workspace_id, destination_id)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
