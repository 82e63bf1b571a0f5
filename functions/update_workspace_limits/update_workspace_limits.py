"""PUT /admin/workspaces/{workspace_id}/limits (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, current_admin, json_response
from nimriz_destinations.api.presenters.workspaces import present_limits
from nimriz_destinations.api.responses.workspaces import UPDATE_LIMITS_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.models.workspaces import LimitsResponse, LimitsUpdate
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import limits_service

app = create_admin_app(limits_service)


@app.put(
    "/admin/workspaces/<workspace_id>/limits",
    summary="Set a workspace's request limits (its own usage plan; audited in its audit log)",
    responses=UPDATE_LIMITS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def update_workspace_limits(
    workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)], body: Annotated[LimitsUpdate, Body()]
) -> Response[LimitsResponse]:
    limits = limits_service().update(workspace_id, body.limits(), current_admin(app))
    logger.info("workspace limits set", extra={"workspace_id": workspace_id, **limits.as_dict()})
    return json_response(200, present_limits(limits))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
