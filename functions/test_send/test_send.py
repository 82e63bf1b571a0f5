"""POST /api/integrations/destinations/{id}/test-send"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.idempotency import IdempotencyKey, answer_once
from nimriz_destinations.api.presenters.previews import present_validation
from nimriz_destinations.api.responses.previews import TEST_SEND_RESPONSES
from nimriz_destinations.errors import Problem, ValidationFailed
from nimriz_destinations.models.previews import (
    QueuedDelivery,
    TestSendRequest,
    TestSendResponse,
    TestSendValidationResponse,
)
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import deliveries_queue, destination_service, idempotent_requests, validation_service

app = create_app("destinations:write", destination_service, deliveries_queue, validation_service, idempotent_requests)


@app.post(
    "/api/integrations/destinations/<destination_id>/test-send",
    summary="Queue a test event for one action, or validate it at once",
    responses=TEST_SEND_RESPONSES,
)
def test_send(
    destination_id: ResourceId,
    body: Annotated[TestSendRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[TestSendResponse | TestSendValidationResponse]:
    request = body or TestSendRequest()
    return answer_once(app, idempotent_requests(), idempotency_key, lambda _: _test_send(destination_id, request))


def _test_send(
    destination_id: str, request: TestSendRequest
) -> Response[TestSendResponse | TestSendValidationResponse]:
    if request.mode == "validate":
        validation = validation_service().validate(
            current_workspace(app), destination_id, request.action_id, test_event_code=request.test_event_code
        )
        logger.info(
            "test-send validated",
            extra={"action_id": validation.action_id, "validation_status": validation.provider.status},
        )
        return json_response(200, TestSendValidationResponse(validation=present_validation(validation)))
    if request.test_event_code is not None:
        raise ValidationFailed(
            "Invalid test-send.", [Problem("test_event_code", 'a test_event_code is given with mode "validate" only')]
        )
    queued = destination_service().test_send(current_workspace(app), destination_id, request.action_id)
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
