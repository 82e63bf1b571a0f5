"""The shared REST resolver: access checks, validation, error mapping and request guards for every API function.

Each endpoint is its own Lambda with its own app and exactly one route: `create_app(scope)` for a workspace route
(the caller's API key must carry `scope`), `create_admin_app()` for an admin route (AWS_IAM-signed callers only).
The access check happens here, before anything else of the request is looked at, and is the only one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import AfterValidator, BaseModel

from .. import safe_json
from ..audit import Actor, admin_actor, api_key_actor
from ..errors import DomainError, Problem
from ..merge_patch import MEDIA_TYPE as MERGE_PATCH_MEDIA_TYPE
from ..observability import count_api_server_error, logger
from ..scopes import Scope, scopes_from_context
from ..settings import check_settings, get_settings
from ..storage.records import Workspace
from ..validation import problems_from_errors

JSON = "application/json"
ResponseModel = TypeVar("ResponseModel", bound=BaseModel)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class Unauthorized(DomainError):
    status = 401
    code = "UNAUTHORIZED"


def error_body(code: str, message: str, support_reference: str, details: list[Problem] | None = None) -> str:
    """The one error shape of the API (design §9.3)."""
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


# A destination or delivery id in the path: ids are stored lower-case, and a client may send them in any case.
# Text of any other shape is not refused here: the stores find nothing for it without asking DynamoDB (ids.is_id),
# so it answers exactly what a well-formed unknown id answers (design §9.4).
ResourceId = Annotated[str, AfterValidator(str.lower), Path()]


def current_workspace(app: APIGatewayRestResolver) -> Workspace:
    """The workspace the authorizer resolved from the API key (API Gateway passes it in the request context)."""
    authorizer = app.current_event.request_context.authorizer
    workspace_id = authorizer.get("workspace_id") if authorizer else None
    organization_id = authorizer.get("organization_id") if authorizer else None
    if not workspace_id or not organization_id:
        raise Unauthorized("Missing or invalid API key.")
    return Workspace(workspace_id=str(workspace_id), organization_id=str(organization_id))


def current_admin(app: APIGatewayRestResolver) -> Actor:
    """Who makes an admin request's changes: the AWS principal that signed it (checked by `_admin_caller`), as
    its opaque id."""
    identity = app.current_event.request_context.identity
    return admin_actor(str(identity.user_arn or "unknown"), key=get_settings().operator_id_key)


def current_actor(app: APIGatewayRestResolver) -> Actor:
    """Who makes this request's changes, for the audit log: the API key the authorizer resolved."""
    authorizer = app.current_event.request_context.authorizer
    api_key_id = authorizer.get("api_key_id") if authorizer else None
    return api_key_actor(str(api_key_id) if api_key_id else None)


@dataclass(frozen=True, slots=True)
class _ParsedBody:
    text: str
    value: Any


class _Rejected(Exception):
    def __init__(self, status: int, code: str, message: str, log_keys: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.log_keys = log_keys or {}


# Checks who may call a route; returns the keys every log line of the request carries, or raises _Rejected.
AccessCheck = Callable[[Mapping[str, Any]], dict[str, str]]
_ACCESS_LOG_KEYS = ("api_key_id", "admin_caller", "admin_id")


def _workspace_key_with(scope: Scope) -> AccessCheck:
    def check(event: Mapping[str, Any]) -> dict[str, str]:
        authorizer = _request_context(event).get("authorizer") or {}
        if not authorizer.get("workspace_id"):
            raise _Rejected(401, "UNAUTHORIZED", "Missing or invalid API key.")
        log_keys = {"api_key_id": str(authorizer.get("api_key_id") or "unknown")}
        # Fails closed: a context without scopes (not from our authorizer) grants none.
        if scope not in scopes_from_context(authorizer.get("scopes")):
            raise _Rejected(403, "INSUFFICIENT_SCOPE", f"This API key does not have the {scope} scope.", log_keys)
        return log_keys

    return check


def _admin_caller(event: Mapping[str, Any]) -> dict[str, str]:
    # API Gateway's AWS_IAM authorization puts the signer's ARN here. Checked again so that an admin route
    # reached any other way (a template mistake, a workspace key) is refused rather than trusted.
    context = _request_context(event)
    caller = (context.get("identity") or {}).get("userArn")
    if not caller or (context.get("authorizer") or {}).get("workspace_id"):
        raise _Rejected(403, "FORBIDDEN", "Sign the request with AWS credentials allowed to call the admin API.")
    # Both in every log line: operators map the opaque id tenants see in their audit log back to the ARN.
    return {"admin_caller": str(caller), "admin_id": admin_actor(str(caller), key=get_settings().operator_id_key).id}


def _request_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("requestContext")
    return context if isinstance(context, Mapping) else {}


class DestinationsApiResolver(APIGatewayRestResolver):
    """Checks access, then decides every request body up front: size, media type, then JSON under `safe_json`'s
    limits.

    Powertools only ever sees a body this accepted, and validates the value parsed here instead of parsing
    the text again with `json.loads` (which would raise RecursionError or ValueError on hostile input).
    """

    def __init__(self, access: AccessCheck, **kwargs: Any) -> None:
        super().__init__(json_body_deserializer=self._parsed_body_value, **kwargs)
        self._access = access
        self._body: _ParsedBody | None = None

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            logger.append_keys(**self._access(event))
            self._body = _read_body(event, get_settings().max_body_bytes)
            return super().resolve(_as_accepted(event, self._body), context)
        except _Rejected as rejection:
            logger.append_keys(**rejection.log_keys)
            logger.info("request refused", extra={"status": rejection.status, "code": rejection.code})
            body = error_body(rejection.code, rejection.message, _request_id(event))
            return {
                "statusCode": rejection.status,
                "headers": {"Content-Type": JSON},
                "body": body,
                "isBase64Encoded": False,
            }
        finally:
            self._body = None
            # Keys appended here must not leak into the next request this environment serves.
            logger.remove_keys(list(_ACCESS_LOG_KEYS))

    def request_body(self) -> Any:
        """The request's body as parsed (None without one): what an idempotent request compares (api/idempotency.py)."""
        return None if self._body is None else self._body.value

    def _parsed_body_value(self, text: str) -> Any:
        # Lambda runs one event at a time per environment: the body Powertools asks about is the one
        # `resolve` just parsed and put in the event.
        if self._body is None or text != self._body.text:
            raise RuntimeError("Powertools asked to parse a body the resolver did not read")
        return self._body.value


def _request_id(event: Mapping[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("requestId") or "unknown")


def _read_body(event: Mapping[str, Any], max_body_bytes: int) -> _ParsedBody | None:
    """The parsed JSON body of a POST/PUT/PATCH (None without one); anything unacceptable raises _Rejected."""
    if event.get("httpMethod") not in _BODY_METHODS:
        return None
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type")
    body = event.get("body")
    if body:
        size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8", "surrogatepass"))
        if size > max_body_bytes:
            raise _Rejected(413, "PAYLOAD_TOO_LARGE", f"The request body is larger than {max_body_bytes} bytes.")
    # Checked with or without a body: Powertools would raise late (a 500) on any other declared type. A PATCH is a
    # JSON Merge Patch, which says so (RFC 7396 §4): its media type is required.
    if event.get("httpMethod") == "PATCH":
        if content_type is None or not _is_media_type(str(content_type), MERGE_PATCH_MEDIA_TYPE):
            raise _Rejected(415, "UNSUPPORTED_MEDIA_TYPE", f"Send the patch as {MERGE_PATCH_MEDIA_TYPE}.")
    elif content_type is not None and not _is_media_type(str(content_type), JSON):
        raise _Rejected(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request body as application/json.")
    if not body:
        return None
    try:
        text = _decoded(body) if event.get("isBase64Encoded") else body
        return _ParsedBody(text, safe_json.loads(text))
    except safe_json.InvalidJson as exc:
        raise _Rejected(400, "INVALID_JSON", f"The request body is not valid JSON: {exc.reason}.") from None


def _is_media_type(content_type: str, expected: str) -> bool:
    # Exactly `expected`; parameters (`; charset=utf-8`) are allowed, other types (`text/json`, `+json`) are not.
    return content_type.split(";", 1)[0].strip().lower() == expected


def _decoded(base64_body: str) -> str:
    try:
        raw = base64.b64decode(base64_body, validate=True)
    except binascii.Error:
        raise safe_json.InvalidJson("the body is not valid base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise safe_json.InvalidJson("the text is not valid UTF-8") from None


def _as_accepted(event: Mapping[str, Any], body: _ParsedBody | None) -> dict[str, Any]:
    """The event as Powertools should see it: a JSON content type it recognises, the body as decoded text."""
    accepted = dict(event)
    if event.get("httpMethod") in _BODY_METHODS:
        accepted["headers"] = _with_json_content_type(event.get("headers"))
        accepted["multiValueHeaders"] = _with_json_content_type(event.get("multiValueHeaders"), multi=True)
    if body is not None:
        accepted["body"], accepted["isBase64Encoded"] = body.text, False
    return accepted


def _with_json_content_type(headers: Mapping[str, Any] | None, *, multi: bool = False) -> dict[str, Any] | None:
    # `Application/JSON; charset=utf-8` is accepted above; Powertools compares the type case-sensitively.
    if headers is None:
        return None
    return {
        name: ([JSON] if multi else JSON) if name.lower() == "content-type" else value
        for name, value in headers.items()
    }


def create_app(scope: Scope, *uses: Callable[[], Any]) -> DestinationsApiResolver:
    """A workspace route's resolver: callers need an API key with `scope`. Built when the handler module loads, it
    checks the settings of the composition-root factories the route `uses` then (settings.check_settings)."""
    check_settings(*uses)
    return _with_error_handling(
        DestinationsApiResolver(_workspace_key_with(scope), enable_validation=True), "workspace"
    )


def create_admin_app(*uses: Callable[[], Any]) -> APIGatewayRestResolver:
    """An admin route's resolver: callers are AWS_IAM-signed (the Nimriz platform's backend), never workspace keys.
    Checks the settings of what the route `uses`, and the key of the admins' opaque ids, when the module loads."""
    check_settings(*uses, also=["operator_id_key"])
    return _with_error_handling(DestinationsApiResolver(_admin_caller, enable_validation=True), "admin")


def _with_error_handling(app: DestinationsApiResolver, api: str) -> DestinationsApiResolver:
    """Every error as the API's error body; each 500 counted for the API's 5xx alarm (`api`: which API)."""

    @app.exception_handler(DomainError)
    def handle_domain_error(exc: DomainError) -> Response[str]:
        if exc.status >= 500:
            logger.exception("request failed", extra={"code": exc.code})
            count_api_server_error(api)
        return error_response(app, exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def handle_validation_error(exc: RequestValidationError) -> Response[str]:
        # Bodies reach Powertools already parsed (DestinationsApiResolver): what is left is schema validation.
        errors = list(exc.errors())
        details = problems_from_errors([{**error, "loc": _strip_source(error.get("loc", ()))} for error in errors])
        return error_response(app, 422, "VALIDATION_FAILED", "The request has invalid fields.", details)

    @app.not_found
    def handle_not_found(_: NotFoundError) -> Response[str]:
        return error_response(app, 404, "ROUTE_NOT_FOUND", "No such route.")

    @app.exception_handler(Exception)
    def handle_unexpected(exc: Exception) -> Response[str]:
        # The message is generic on purpose: exception text can carry request data.
        logger.exception("unexpected error")
        count_api_server_error(api)
        return error_response(app, 500, "INTERNAL_ERROR", "Something went wrong on our side; retry later.")

    return app


def _strip_source(loc: Any) -> tuple[Any, ...]:
    # Powertools prefixes locs with the request part ("body", "query", "path", "header").
    loc = tuple(loc)
    if loc and loc[0] == "body":
        return loc[1:]
    return loc
