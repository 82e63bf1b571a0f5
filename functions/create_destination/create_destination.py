"""POST /api/integrations/destinations"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_actor, current_workspace, json_response
from nimriz_destinations.api.idempotency import IdempotencyKey, ShownOnce, answer_once
from nimriz_destinations.api.presenters.destinations import present_destination
from nimriz_destinations.api.responses.destinations import CREATE_RESPONSES
from nimriz_destinations.models.destinations import DestinationCreate, DestinationResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import destination_service, idempotency_key, idempotent_requests

app = create_app("destinations:write", destination_service, idempotency_key)


@app.post("/api/integrations/destinations", summary="Create a destination", responses=CREATE_RESPONSES)
def create_destination(
    body: Annotated[DestinationCreate, Body()], idempotency_key: IdempotencyKey = None
) -> Response[DestinationResponse]:
    def create(nonce: bytes | None) -> Response[DestinationResponse]:
        saved = destination_service().create(current_workspace(app), body, actor=current_actor(app), nonce=nonce)
        logger.info("destination created", extra={"destination_id": saved.record.id, "type": saved.record.type})
        response = DestinationResponse(destination=present_destination(saved.record, saved.revealed))
        return json_response(201, response, headers={"ETag": saved.record.etag})

    # A generated signing secret is shown once, and again to a replay: derived from the nonce, never recorded.
    shown_once = ShownOnce(
        ("destination", "credentials"), lambda nonce: destination_service().generated_secrets(body, nonce)
    )
    return answer_once(app, idempotent_requests(), idempotency_key, create, shown_once=shown_once)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
