"""POST /api/integrations/destinations/{id}/pause"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_actor, current_workspace, json_response
from nimriz_destinations.api.idempotency import IdempotencyKey, answer_once
from nimriz_destinations.api.presenters.destinations import present_destination
from nimriz_destinations.api.responses.destinations import PAUSE_RESPONSES
from nimriz_destinations.models.destinations import DestinationResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import idempotent_requests, recovery_service

app = create_app("destinations:write", recovery_service, idempotent_requests)


@app.post(
    "/api/integrations/destinations/<destination_id>/pause",
    summary="Pause a destination: its matched events are held (status held) until it is resumed",
    responses=PAUSE_RESPONSES,
)
def pause_destination(
    destination_id: ResourceId, idempotency_key: IdempotencyKey = None
) -> Response[DestinationResponse]:
    def pause(_: bytes | None) -> Response[DestinationResponse]:
        record = recovery_service().pause(current_workspace(app), destination_id, actor=current_actor(app))
        logger.info("destination paused", extra={"destination_id": destination_id})
        return json_response(200, DestinationResponse(destination=present_destination(record)), {"ETag": record.etag})

    return answer_once(app, idempotent_requests(), idempotency_key, pause)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
