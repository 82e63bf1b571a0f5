"""POST /api/integrations/destinations/{id}/rotate-signing-secret"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_actor, current_workspace, json_response
from nimriz_destinations.api.responses.destinations import ROTATE_SIGNING_SECRET_RESPONSES
from nimriz_destinations.models.destinations import SigningSecretRotate, SigningSecretRotated
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service

app = create_app("destinations:write", destination_service)


@app.post(
    "/api/integrations/destinations/<destination_id>/rotate-signing-secret",
    summary="Rotate a webhook destination's signing secret, the old one signing too for an overlap",
    responses=ROTATE_SIGNING_SECRET_RESPONSES,
)
def rotate_signing_secret(
    destination_id: ResourceId, body: Annotated[SigningSecretRotate, Body()]
) -> Response[SigningSecretRotated]:
    rotated = destination_service().rotate_signing_secret(
        current_workspace(app), destination_id, overlap_seconds=body.overlap_seconds, actor=current_actor(app)
    )
    logger.info(
        "signing secret rotated",
        extra={"destination_id": destination_id, "previous_secret_expires_at": rotated.previous_secret_expires_at},
    )
    response = SigningSecretRotated(
        signing_secret=rotated.signing_secret, previous_secret_expires_at=rotated.previous_secret_expires_at
    )
    return json_response(200, response)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
