"""POST /api/integrations/destinations/preview"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.previews import present_preview
from nimriz_destinations.api.responses.previews import NEW_PREVIEW_RESPONSES
from nimriz_destinations.models.previews import NewDestinationPreviewRequest, PreviewResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import preview_service

app = create_app("destinations:read", preview_service)


@app.post(
    "/api/integrations/destinations/preview",
    summary="Preview what an unsaved destination's actions would send",
    responses=NEW_PREVIEW_RESPONSES,
)
def preview_new_destination(body: Annotated[NewDestinationPreviewRequest, Body()]) -> Response[PreviewResponse]:
    event, previews = preview_service().unsaved(
        current_workspace(app), body.destination, action_index=body.action_index, event=body.event
    )
    return json_response(200, PreviewResponse(event=event, actions=[present_preview(p) for p in previews]))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
