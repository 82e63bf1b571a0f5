"""POST /api/integrations/destinations/{id}/preview"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.previews import present_preview
from nimriz_destinations.api.responses.previews import PREVIEW_RESPONSES
from nimriz_destinations.models.previews import PreviewRequest, PreviewResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import preview_service

app = create_app("destinations:read", preview_service)


@app.post(
    "/api/integrations/destinations/<destination_id>/preview",
    summary="Preview what a saved destination's actions would send",
    responses=PREVIEW_RESPONSES,
)
def preview_destination(
    destination_id: ResourceId, body: Annotated[PreviewRequest | None, Body()] = None
) -> Response[PreviewResponse]:
    request = body or PreviewRequest()
    event, previews = preview_service().saved(
        current_workspace(app), destination_id, action_id=request.action_id, event=request.event
    )
    return json_response(200, PreviewResponse(event=event, actions=[present_preview(p) for p in previews]))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
