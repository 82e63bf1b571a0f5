"""GET /admin/workspaces/{workspace_id}/destinations/{id}/dead-letters (admin API, AWS_IAM): support's view of the
workspace route"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_admin_app, json_response
from nimriz_destinations.api.params import Cursor, Limit, WorkspaceId
from nimriz_destinations.api.presenters.deliveries import present_dead_letter_page
from nimriz_destinations.api.responses.deliveries import SUPPORT_LIST_DEAD_LETTERS_RESPONSES
from nimriz_destinations.models.deliveries import DeadLetterListResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import delivery_service

app = create_admin_app(delivery_service)


@app.get(
    "/admin/workspaces/<workspace_id>/destinations/<destination_id>/dead-letters",
    summary="A workspace's destination's dead letters, as its workspace sees them",
    responses=SUPPORT_LIST_DEAD_LETTERS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_list_dead_letters(
    workspace_id: WorkspaceId, destination_id: ResourceId, limit: Limit = 50, cursor: Cursor = None
) -> Response[DeadLetterListResponse]:
    page = delivery_service().list_dead_letters(workspace_id, destination_id, limit=limit, cursor=cursor)
    return json_response(200, present_dead_letter_page(*page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
