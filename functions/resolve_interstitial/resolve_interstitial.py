"""POST /api/integrations/interstitial/resolve"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_workspace, json_response
from nimriz_destinations.api.responses.interstitial import RESOLVE_INTERSTITIAL_RESPONSES
from nimriz_destinations.clock import iso_from_unix
from nimriz_destinations.interstitial.models import (
    ResolveRequest,
    ResolveResponse,
    present_interstitial,
)
from nimriz_destinations.interstitial.runtime import interstitial_resolver
from nimriz_destinations.interstitial.urls import page_base_url
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.settings import get_settings

RESOURCE = "/api/integrations/interstitial/resolve"
app = create_app("interstitial:resolve", interstitial_resolver)


@app.post(
    RESOURCE, summary="Resolve the interstitial pixels for one redirect", responses=RESOLVE_INTERSTITIAL_RESPONSES
)
def resolve_interstitial(body: Annotated[ResolveRequest, Body()]) -> Response[ResolveResponse]:
    resolution = interstitial_resolver().resolve(current_workspace(app), body)
    logger.info("interstitial resolved", extra={"url_id": body.url_id, "applies": resolution is not None})
    if resolution is None:
        return json_response(200, ResolveResponse(interstitial=None))
    base_url = page_base_url(
        get_settings().interstitial_page_base_url, app.current_event.raw_event["requestContext"], RESOURCE
    )
    interstitial = present_interstitial(
        resolution.plan, resolution.token, f"{base_url}/i/{resolution.token}", iso_from_unix(resolution.expires_at)
    )
    return json_response(200, ResolveResponse(interstitial=interstitial))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
