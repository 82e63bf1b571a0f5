"""PATCH /admin/workspaces/{workspace_id}/api-keys/{key_id} (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, current_admin, json_response
from nimriz_destinations.api.presenters.workspaces import present_api_key
from nimriz_destinations.api.responses.workspaces import UPDATE_API_KEY_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.models.workspaces import ApiKeyOut, ApiKeyUpdate
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import api_key_service
from nimriz_destinations.service.api_keys import KeyChanges

app = create_admin_app(api_key_service)


@app.patch(
    "/admin/workspaces/<workspace_id>/api-keys/<key_id>",
    summary="Change a workspace API key's label or scopes (new scopes apply within AUTH_CACHE_SECONDS)",
    responses=UPDATE_API_KEY_RESPONSES,
    security=[{"awsSigV4": []}],
)
def update_api_key(
    workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)], key_id: str, body: Annotated[ApiKeyUpdate, Body()]
) -> Response[ApiKeyOut]:
    key = api_key_service().update(
        workspace_id, key_id, current_admin(app), KeyChanges(label=body.label, scopes=body.scopes)
    )
    logger.info("api key updated", extra={"workspace_id": workspace_id, "updated_api_key_id": key.id})
    return json_response(200, present_api_key(key))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
