"""GET /i/{token}: the public interstitial page (no authorizer: the signed token is the credential)."""

import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.interstitial.page import error_page, page_for_token
from nimriz_destinations.interstitial.runtime import token_secret
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.settings import check_settings, get_settings

check_settings(token_secret)

app = APIGatewayRestResolver()


@app.get("/i/<token>", include_in_schema=False)
def interstitial_page(token: str) -> Response[str]:
    page = page_for_token(token, token_secret().get(), get_settings().pixel_host_overrides, now=time.time())
    logger.info("interstitial page served", extra={"status": page.status})  # never the token: it holds the URL
    return Response(status_code=page.status, body=page.body, headers=page.headers)


@app.exception_handler(Exception)
def handle_unexpected(exc: Exception) -> Response[str]:
    logger.exception("interstitial page failed")
    page = error_page(503, "Something went wrong", "Please open the link again in a moment.")
    return Response(status_code=page.status, body=page.body, headers=page.headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
