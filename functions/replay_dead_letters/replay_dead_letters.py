"""POST /api/integrations/destinations/{id}/dead-letters/replay"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.idempotency import IdempotencyKey, answer_once
from nimriz_destinations.api.presenters.deliveries import present_replayed
from nimriz_destinations.api.responses.deliveries import REPLAY_RESPONSES
from nimriz_destinations.models.deliveries import ReplayRequest, ReplayResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import deliveries_queue, delivery_service, idempotent_requests

app = create_app("deliveries:replay", delivery_service, deliveries_queue, idempotent_requests)


@app.post(
    "/api/integrations/destinations/<destination_id>/dead-letters/replay",
    summary="Replay dead letters (all, or a list of ids)",
    responses=REPLAY_RESPONSES,
)
def replay_dead_letters(
    destination_id: ResourceId,
    body: Annotated[ReplayRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[ReplayResponse]:
    def replay(_: bytes | None) -> Response[ReplayResponse]:
        ids = body.ids if body else None
        replayed = delivery_service().replay(current_workspace(app).workspace_id, destination_id, ids)
        logger.info("dead letters replayed", extra={"destination_id": destination_id, "count": len(replayed)})
        return json_response(202, present_replayed(replayed))

    return answer_once(app, idempotent_requests(), idempotency_key, replay)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
