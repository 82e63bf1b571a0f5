"""POST /api/integrations/destinations/{id}/recover"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.idempotency import IdempotencyKey, answer_once
from nimriz_destinations.api.responses.deliveries import RECOVERY_RESPONSES
from nimriz_destinations.models.deliveries import RecoverDeliveriesRequest, RecoveryOut, RecoveryResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import deliveries_queue, idempotent_requests, recoveries_queue, recovery_service
from nimriz_destinations.service.recoveries import RECOVERABLE_STATUSES
from nimriz_destinations.storage.recoveries import Criteria

app = create_app("deliveries:replay", recovery_service, deliveries_queue, recoveries_queue, idempotent_requests)


@app.post(
    "/api/integrations/destinations/<destination_id>/recover",
    summary="Queue again the deliveries of a time range with the given statuses (reason replay)",
    responses=RECOVERY_RESPONSES,
)
def recover_deliveries(
    destination_id: ResourceId,
    body: Annotated[RecoverDeliveriesRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[RecoveryResponse]:
    def recover(_: bytes | None) -> Response[RecoveryResponse]:
        until = body.until.timestamp() if body.until is not None else recovery_service().now()
        criteria = Criteria(
            since_millis=int(body.since.timestamp() * 1000),
            until_millis=int(until * 1000),
            statuses=tuple(sorted({RECOVERABLE_STATUSES[status] for status in body.statuses})),
            event_types=tuple(body.event_types) if body.event_types is not None else None,
            action_id=body.action_id,
        )
        started = recovery_service().recover(current_workspace(app), destination_id, criteria)
        logger.info("recovery started", extra={"destination_id": destination_id, "recovery_id": started.id,
                                               "matched": started.matched, "queued": started.queued})  # fmt: skip
        out = RecoveryOut(id=started.id, matched=started.matched, queued=started.queued)
        return json_response(202, RecoveryResponse(recovery=out))

    return answer_once(app, idempotent_requests(), idempotency_key, recover)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
