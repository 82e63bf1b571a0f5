"""GET /admin/workspaces/{workspace_id}/limits (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, json_response
from nimriz_destinations.api.presenters.workspaces import present_limits
from nimriz_destinations.api.responses.workspaces import GET_LIMITS_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.models.workspaces import LimitsResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import limits_service

app = create_admin_app(limits_service)


@app.get(
    "/admin/workspaces/<workspace_id>/limits",
    summary="A workspace's request limits: requests per second and burst (its resolve route has its own, higher)",
    responses=GET_LIMITS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def get_workspace_limits(workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)]) -> Response[LimitsResponse]:
    return json_response(200, present_limits(limits_service().get(workspace_id)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
