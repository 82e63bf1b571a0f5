"""GET /api/integrations/destinations/{id}/deliveries"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.params import (
    ActionIdFilter,
    Cursor,
    EventIdFilter,
    EventTypeFilter,
    Limit,
    SinceFilter,
    StatusFilter,
    UntilFilter,
)
from nimriz_destinations.api.presenters.deliveries import present_delivery_page
from nimriz_destinations.api.responses.deliveries import LIST_DELIVERIES_RESPONSES
from nimriz_destinations.models.deliveries import DeliveryListResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import delivery_service

app = create_app("destinations:read", delivery_service)


@app.get(
    "/api/integrations/destinations/<destination_id>/deliveries",
    summary="List a destination's deliveries",
    responses=LIST_DELIVERIES_RESPONSES,
)
def list_deliveries(
    destination_id: ResourceId,
    action_id: ActionIdFilter = None,
    status: StatusFilter = None,
    event_id: EventIdFilter = None,
    event_type: EventTypeFilter = None,
    since: SinceFilter = None,
    until: UntilFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response[DeliveryListResponse]:
    page = delivery_service().list_deliveries(
        current_workspace(app).workspace_id,
        destination_id,
        limit=limit,
        cursor=cursor,
        action_id=action_id,
        status=status,
        event_id=event_id,
        event_type=event_type,
        since=since,
        until=until,
    )
    return json_response(200, present_delivery_page(*page))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
