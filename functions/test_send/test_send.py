"""POST /api/integrations/destinations/{id}/test-send"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.responses import TEST_SEND_RESPONSES
from nimriz_destinations.models import QueuedDelivery, TestSendRequest, TestSendResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import deliveries_queue, destination_service

app = create_app("destinations:write", destination_service, deliveries_queue)


@app.post(
    "/api/integrations/destinations/<destination_id>/test-send",
    summary="Queue a test event for one action",
    responses=TEST_SEND_RESPONSES,
)
def test_send(
    destination_id: ResourceId, body: Annotated[TestSendRequest | None, Body()] = None
) -> Response[TestSendResponse]:
    action_id = body.action_id if body else None
    queued = destination_service().test_send(current_workspace(app), destination_id, action_id)
    logger.info("test delivery queued", extra={"delivery_id": queued.delivery_id, "action_id": queued.action_id})
    delivery = QueuedDelivery(
        id=queued.delivery_id,
        destination_id=queued.destination_id,
        action_id=queued.action_id,
        event_id=queued.event_id,
        event_type=queued.event_type,
        reason="test",
        status="queued",
        queued_at=queued.queued_at,
    )
    return json_response(202, TestSendResponse(delivery=delivery))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
