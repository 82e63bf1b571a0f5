"""GET /admin/workspaces/{workspace_id}/parked-events (admin API, AWS_IAM): support's view of the workspace route"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, json_response
from nimriz_destinations.api.params import Cursor, Limit, WorkspaceId
from nimriz_destinations.api.presenters.deliveries import present_parked_page
from nimriz_destinations.api.responses.deliveries import SUPPORT_LIST_PARKED_EVENTS_RESPONSES
from nimriz_destinations.models.deliveries import ParkedEventListResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import parked_event_service

app = create_admin_app(parked_event_service)


@app.get(
    "/admin/workspaces/<workspace_id>/parked-events",
    summary="A workspace's parked events, as its workspace sees them",
    responses=SUPPORT_LIST_PARKED_EVENTS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_list_parked_events(
    workspace_id: WorkspaceId, limit: Limit = 50, cursor: Cursor = None
) -> Response[ParkedEventListResponse]:
    page = parked_event_service().list_parked(workspace_id, limit=limit, cursor=cursor)
    return json_response(200, present_parked_page(*page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
