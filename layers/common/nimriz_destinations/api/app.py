"""The shared REST resolver: validation, error mapping and request guards for every API function.

Each endpoint is its own Lambda with its own `app = create_app()` and exactly one route.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from ..errors import DomainError, Problem
from ..observability import logger
from ..settings import get_settings
from ..storage.records import Workspace
from ..validation import problems_from_errors

JSON = "application/json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Unauthorized(DomainError):
    status = 401
    code = "UNAUTHORIZED"


class PayloadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


def error_response(
    app: APIGatewayRestResolver, status: int, code: str, message: str, details: list[Problem] | None = None
) -> Response[str]:
    body = {
        "error": {
            "code": code,
            "message": message,
            "support_reference": _support_reference(app),
            "details": [detail.as_dict() for detail in details or []],
        }
    }
    return Response(status_code=status, content_type=JSON, body=json.dumps(body))


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    payload = body.model_dump_json() if hasattr(body, "model_dump_json") else json.dumps(body)
    return Response(status_code=status, content_type=JSON, body=payload, headers=headers)


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


def create_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    def guard_request_body(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = app.current_event
        if event.http_method in _BODY_METHODS and event.body:
            if len(event.body.encode()) > get_settings().max_body_bytes:
                raise PayloadTooLarge(f"The request body is larger than {get_settings().max_body_bytes} bytes.")
            content_type = (event.headers.get("content-type") or event.headers.get("Content-Type") or JSON).lower()
            if not content_type.split(";")[0].strip().endswith(("/json", "+json")):
                raise UnsupportedMediaType("Send the request body as application/json.")
        return next_middleware(app)

    app.use(middlewares=[guard_request_body])

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
