"""POST /admin/workspaces/{workspace_id}/api-keys/{key_id}/rotate (admin API, AWS_IAM)"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, current_admin, json_response
from nimriz_destinations.api.idempotency import IdempotencyKey
from nimriz_destinations.api.presenters.workspaces import present_issued_key
from nimriz_destinations.api.responses.workspaces import ROTATE_API_KEY_RESPONSES
from nimriz_destinations.ids import PLATFORM_ID_PATTERN
from nimriz_destinations.models.workspaces import ApiKeyCreatedResponse, ApiKeyRotate
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import api_key_service, idempotency_key

app = create_admin_app(api_key_service, idempotency_key)


@app.post(
    "/admin/workspaces/<workspace_id>/api-keys/<key_id>/rotate",
    summary="Replace a workspace API key: a new key and secret; the old key works for overlap_seconds more",
    responses=ROTATE_API_KEY_RESPONSES,
    security=[{"awsSigV4": []}],
)
def rotate_api_key(
    workspace_id: Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)],
    key_id: str,
    body: Annotated[ApiKeyRotate, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[ApiKeyCreatedResponse]:
    outcome = api_key_service().rotate(
        workspace_id,
        key_id,
        current_admin(app),
        overlap_seconds=body.overlap_seconds,
        expires_at=body.expires_at,
        idempotency_key=idempotency_key,
    )
    issued = outcome.result
    logger.info(
        "api key rotated",
        extra={
            "workspace_id": workspace_id,
            "rotated_api_key_id": key_id.lower(),
            "created_api_key_id": issued.key.id,
            "replayed": outcome.replayed,
        },
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return json_response(201, present_issued_key(issued), headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
