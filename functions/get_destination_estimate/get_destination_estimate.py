"""GET /api/integrations/destinations/{id}/estimate"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.metrics import present_estimate
from nimriz_destinations.api.responses.metrics import ESTIMATE_RESPONSES
from nimriz_destinations.models.metrics import EstimateResponse, MetricsWindow
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import metrics_service

app = create_app("destinations:read", metrics_service)


@app.get(
    "/api/integrations/destinations/<destination_id>/estimate",
    summary="How many events each action matches, enabled or not, before switching it on",
    responses=ESTIMATE_RESPONSES,
)
def get_destination_estimate(
    destination_id: ResourceId,
    window: Annotated[MetricsWindow, Query(description="How far back to count, in whole UTC hours.")] = "24h",
) -> Response[EstimateResponse]:
    estimate = metrics_service().estimate(current_workspace(app), destination_id, window)
    return json_response(200, EstimateResponse(estimate=present_estimate(estimate)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
