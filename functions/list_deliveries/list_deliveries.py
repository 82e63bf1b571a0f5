"""GET /api/integrations/destinations/{id}/deliveries"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.presenters import present_delivery
from nimriz_destinations.api.responses import LIST_DELIVERIES_RESPONSES
from nimriz_destinations.models import DeliveryListResponse, DeliveryStatus
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import delivery_service

app = create_app("destinations:read")


@app.get(
    "/api/integrations/destinations/<destination_id>/deliveries",
    summary="List a destination's deliveries",
    responses=LIST_DELIVERIES_RESPONSES,
)
def list_deliveries(
    destination_id: ResourceId,
    action_id: Annotated[str | None, Query(max_length=64, description="Only this action's deliveries.")] = None,
    status: Annotated[DeliveryStatus | None, Query(description="Only deliveries in this status.")] = None,
    event_id: Annotated[
        str | None, Query(min_length=1, max_length=1024, description="Only deliveries of this event (its `id`).")
    ] = None,
    event_type: Annotated[
        str | None, Query(max_length=64, description="Only deliveries of events of this type.")
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="RFC 3339; only deliveries whose time (what the log sorts by: a live delivery's event "
            "`occurred_at`, a replay's or test's queueing time) is at or after it.",
        ),
    ] = None,
    until: Annotated[
        str | None, Query(max_length=64, description="RFC 3339; only deliveries whose time is before it.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[DeliveryListResponse]:
    summaries, next_cursor = delivery_service().list_deliveries(
        current_workspace(app), destination_id, limit=limit, cursor=cursor, action_id=action_id, status=status,
        event_id=event_id, event_type=event_type, since=since, until=until,
    )  # fmt: skip
    body = DeliveryListResponse(deliveries=[present_delivery(s) for s in summaries], next_cursor=next_cursor)
    return json_response(200, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
