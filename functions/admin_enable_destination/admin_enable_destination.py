"""POST /admin/workspaces/{workspace_id}/destinations/{id}/enable (admin API, AWS_IAM): support enables a destination
for the customer, as a PUT with `enabled: true` would, audited in the workspace's audit log as the operator"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_admin_app, current_admin, json_response
from nimriz_destinations.api.params import WorkspaceId
from nimriz_destinations.api.presenters.destinations import destination_answer
from nimriz_destinations.api.responses.destinations import SUPPORT_ENABLE_RESPONSES
from nimriz_destinations.models.destinations import DestinationResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_admin_app(destination_service)


@app.post(
    "/admin/workspaces/<workspace_id>/destinations/<destination_id>/enable",
    summary="Enable a workspace's destination for it (healthy again, circuit closed), audited as the operator",
    responses=SUPPORT_ENABLE_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_enable_destination(workspace_id: WorkspaceId, destination_id: ResourceId) -> Response[DestinationResponse]:
    record = destination_service().enable(workspace_id, destination_id, actor=current_admin(app))
    logger.info(
        "destination enabled for a workspace",
        extra={"workspace_id": workspace_id, "destination_id": record.id, "version": record.version},
    )
    return json_response(200, *destination_answer(record))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
