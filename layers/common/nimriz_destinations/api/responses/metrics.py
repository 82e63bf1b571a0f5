"""OpenAPI responses of the metrics and volume estimate routes."""

from __future__ import annotations

from ...models.base import ErrorResponse
from ...models.metrics import DestinationMetricsResponse, EstimateResponse
from .common import ERRORS, NOT_FOUND, json_body

METRICS_RESPONSES = {
    200: json_body("Counts per action and in total over the window", DestinationMetricsResponse),
    422: json_body("Invalid query", ErrorResponse),
    **NOT_FOUND,
    **ERRORS,
}

ESTIMATE_RESPONSES = {
    200: json_body("What each action matched over the window, enabled or not", EstimateResponse),
    422: json_body("Invalid query", ErrorResponse),
    **NOT_FOUND,
    **ERRORS,
}
