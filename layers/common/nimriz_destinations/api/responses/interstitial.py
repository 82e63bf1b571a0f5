"""OpenAPI responses of the interstitial resolve route."""

from __future__ import annotations

from ...interstitial.models import ResolveResponse
from .common import BODY_ERRORS, ERRORS, json_body

RESOLVE_INTERSTITIAL_RESPONSES = {
    200: json_body("The merged pixel set with a signed page token, or interstitial: null", ResolveResponse),
    **BODY_ERRORS,
    **ERRORS,
}
