"""POST /admin/workspaces/{workspace_id}/api-keys (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, current_admin, json_response
from nimriz_destinations.api.presenters.workspaces import present_issued_key
from nimriz_destinations.api.responses.workspaces import CREATE_API_KEY_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.models.workspaces import ApiKeyCreate, ApiKeyCreatedResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import api_key_service
from nimriz_destinations.storage.records import Workspace

app = create_admin_app(api_key_service)


@app.post(
    "/admin/workspaces/<workspace_id>/api-keys",
    summary="Create a workspace API key (the secret is shown once)",
    responses=CREATE_API_KEY_RESPONSES,
    security=[{"awsSigV4": []}],
)
def create_api_key(
    workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)], body: Annotated[ApiKeyCreate, Body()]
) -> Response[ApiKeyCreatedResponse]:
    workspace = Workspace(workspace_id=workspace_id, organization_id=body.organization_id)
    issued = api_key_service().create(
        workspace, current_admin(app), label=body.label, scopes=body.scopes, expires_at=body.expires_at
    )
    logger.info("api key created", extra={"workspace_id": workspace_id, "created_api_key_id": issued.key.id})
    return json_response(201, present_issued_key(issued))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
