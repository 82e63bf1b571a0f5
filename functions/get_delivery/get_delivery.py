"""GET /api/integrations/destinations/{id}/deliveries/{delivery_id}"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.deliveries import present_delivery_detail
from nimriz_destinations.api.responses.deliveries import GET_DELIVERY_RESPONSES
from nimriz_destinations.models.deliveries import DeliveryDetailResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import delivery_service

app = create_app("destinations:read", delivery_service)


@app.get(
    "/api/integrations/destinations/<destination_id>/deliveries/<delivery_id>",
    summary="Get one delivery with every attempt",
    responses=GET_DELIVERY_RESPONSES,
)
def get_delivery(destination_id: ResourceId, delivery_id: ResourceId) -> Response[DeliveryDetailResponse]:
    summary, attempts = delivery_service().get_delivery(
        current_workspace(app).workspace_id, destination_id, delivery_id
    )
    return json_response(200, DeliveryDetailResponse(delivery=present_delivery_detail(summary, attempts)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
