"""DELETE /admin/workspaces/{workspace_id}/api-keys/{key_id} (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, current_admin
from nimriz_destinations.api.responses.workspaces import REVOKE_API_KEY_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import api_key_service

app = create_admin_app(api_key_service)


@app.delete(
    "/admin/workspaces/<workspace_id>/api-keys/<key_id>",
    summary="Revoke a workspace API key (it stops working within AUTH_CACHE_SECONDS)",
    responses=REVOKE_API_KEY_RESPONSES,
    security=[{"awsSigV4": []}],
)
def revoke_api_key(workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)], key_id: str) -> Response[None]:
    revoked = api_key_service().revoke(workspace_id, key_id, current_admin(app))
    logger.info("api key revoked", extra={"workspace_id": workspace_id, "revoked_api_key_id": revoked.id})
    return Response(status_code=204)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
