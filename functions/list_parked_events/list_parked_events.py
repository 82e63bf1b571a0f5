"""GET /api/integrations/parked-events"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_workspace, json_response
from nimriz_destinations.api.responses import LIST_PARKED_EVENTS_RESPONSES
from nimriz_destinations.models import ParkedEventListResponse, ParkedEventOut
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import parked_event_service

app = create_app("destinations:read", parked_event_service)


@app.get(
    "/api/integrations/parked-events",
    summary="List live events fan-out could not handle (invalid, or failing until parked)",
    responses=LIST_PARKED_EVENTS_RESPONSES,
)
def list_parked_events(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[ParkedEventListResponse]:
    events, next_cursor = parked_event_service().list_parked(current_workspace(app), limit=limit, cursor=cursor)
    items = [ParkedEventOut(id=e.id, event_id=e.event_id, event_type=e.event_type, reason=e.reason,
                            receive_count=e.receive_count, parked_at=e.parked_at) for e in events]  # fmt: skip
    return json_response(200, ParkedEventListResponse(parked_events=items, next_cursor=next_cursor))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
