"""GET /admin/workspaces/{workspace_id}/api-keys (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, json_response
from nimriz_destinations.api.presenters.workspaces import present_api_key
from nimriz_destinations.api.responses.workspaces import LIST_API_KEYS_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.models.workspaces import ApiKeyListResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import api_key_service

app = create_admin_app(api_key_service)


@app.get(
    "/admin/workspaces/<workspace_id>/api-keys",
    summary="List a workspace's API keys that are not revoked (never their secrets)",
    responses=LIST_API_KEYS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def list_api_keys(workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)]) -> Response[ApiKeyListResponse]:
    keys = api_key_service().list_keys(workspace_id)
    return json_response(200, ApiKeyListResponse(api_keys=[present_api_key(key) for key in keys]))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
