"""The shared REST resolver: validation, error mapping and request guards for every API function.

Each endpoint is its own Lambda with its own `app = create_app()` and exactly one route.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

from ..errors import DomainError, Problem
from ..observability import logger
from ..settings import get_settings
from ..storage.records import Workspace
from ..validation import problems_from_errors

JSON = "application/json"
ResponseModel = TypeVar("ResponseModel", bound=BaseModel)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Unauthorized(DomainError):
    status = 401
    code = "UNAUTHORIZED"


def error_body(code: str, message: str, support_reference: str, details: list[Problem] | None = None) -> str:
    """The one error shape of the API (design §9)."""
    details_json = [detail.as_dict() for detail in details or []]
    error = {"code": code, "message": message, "support_reference": support_reference, "details": details_json}
    return json.dumps({"error": error})


def error_response(
    app: APIGatewayRestResolver, status: int, code: str, message: str, details: list[Problem] | None = None
) -> Response[str]:
    return Response(
        status_code=status, content_type=JSON, body=error_body(code, message, _support_reference(app), details)
    )


def json_response[ResponseModel: BaseModel](
    status: int, body: ResponseModel, headers: dict[str, str] | None = None
) -> Response[ResponseModel]:
    # The model itself goes in: Powertools validates it against the route's return annotation and serializes it.
    return Response(status_code=status, content_type=JSON, body=body, headers=headers)


def _support_reference(app: APIGatewayRestResolver) -> str:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return "unknown"


def current_workspace(app: APIGatewayRestResolver) -> Workspace:
    """The workspace the authorizer resolved from the API key (API Gateway passes it in the request context)."""
    authorizer = app.current_event.request_context.authorizer
    workspace_id = authorizer.get("workspace_id") if authorizer else None
    organization_id = authorizer.get("organization_id") if authorizer else None
    if not workspace_id or not organization_id:
        raise Unauthorized("Missing or invalid API key.")
    return Workspace(workspace_id=str(workspace_id), organization_id=str(organization_id))


class DestinationsApiResolver(APIGatewayRestResolver):
    """Rejects oversized and non-JSON bodies before Powertools parses or validates anything."""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        rejection = _body_rejection(event, get_settings().max_body_bytes)
        if rejection is not None:
            status, code, message = rejection
            body = error_body(code, message, _request_id(event))
            return {"statusCode": status, "headers": {"Content-Type": JSON}, "body": body, "isBase64Encoded": False}
        return super().resolve(event, context)


def _request_id(event: Mapping[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("requestId") or "unknown")


def _body_rejection(event: Mapping[str, Any], max_body_bytes: int) -> tuple[int, str, str] | None:
    body = event.get("body")
    if event.get("httpMethod") not in _BODY_METHODS or not body:
        return None
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if size > max_body_bytes:
        return 413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {max_body_bytes} bytes."
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = str(headers.get("content-type") or JSON).split(";")[0].strip().lower()
    if not media_type.endswith(("/json", "+json")):
        return 415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json."
    return None


def create_app() -> APIGatewayRestResolver:
    app = DestinationsApiResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def handle_domain_error(exc: DomainError) -> Response[str]:
        if exc.status >= 500:
            logger.exception("request failed", extra={"code": exc.code})
        return error_response(app, exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def handle_validation_error(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        if any(error.get("type") == "json_invalid" for error in errors):
            return error_response(app, 400, "INVALID_JSON", "The request body is not valid JSON.")
        if any(error.get("type") == "unsupported_content_type" for error in errors):
            return error_response(app, 415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json.")
        details = problems_from_errors([{**error, "loc": _strip_source(error.get("loc", ()))} for error in errors])
        return error_response(app, 422, "VALIDATION_FAILED", "The request has invalid fields.", details)

    @app.not_found
    def handle_not_found(_: NotFoundError) -> Response[str]:
        return error_response(app, 404, "ROUTE_NOT_FOUND", "No such route.")

    @app.exception_handler(Exception)
    def handle_unexpected(exc: Exception) -> Response[str]:
        # The message is generic on purpose: exception text can carry request data.
        logger.exception("unexpected error")
        return error_response(app, 500, "INTERNAL_ERROR", "Something went wrong on our side; retry later.")

    return app


def _strip_source(loc: Any) -> tuple[Any, ...]:
    # Powertools prefixes locs with the request part ("body", "query", "path", "header").
    loc = tuple(loc)
    if loc and loc[0] == "body":
        return loc[1:]
    return loc
