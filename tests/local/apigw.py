"""An API Gateway (REST, proxy integration) stand-in driven by template.yaml.

Routes come from the functions' `Api` events, the authorizer is the template's Lambda authorizer
(called with a REQUEST event, its context passed on), and gateway errors use the template's
GatewayResponses bodies, so local behaviour follows what will be deployed.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .lambdas import ACCOUNT_ID, invoke
from .template import functions, load_template

API_ID = "localapi"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # e.g. /api/integrations/destinations/{id}
    function: str  # logical id
    authorized: bool
    pattern: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass
class GatewayResult:
    status: int
    headers: dict[str, str]
    body: bytes


def _api_properties() -> tuple[str, dict[str, Any]]:
    apis = {k: v for k, v in load_template()["Resources"].items() if v["Type"] == "AWS::Serverless::Api"}
    ((logical_id, api),) = apis.items()
    return logical_id, api["Properties"]


def routes() -> list[Route]:
    _, api = _api_properties()
    has_default_authorizer = bool(api.get("Auth", {}).get("DefaultAuthorizer"))
    found = []
    for logical_id, function in functions().items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            properties = event["Properties"]
            resource = properties["Path"]
            auth = properties.get("Auth", {}).get("Authorizer")
            pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource)))
            found.append(
                Route(
                    method=properties["Method"].upper(),
                    resource=resource,
                    function=logical_id,
                    authorized=has_default_authorizer and auth != "NONE",
                    pattern=pattern,
                )
            )
    # Like API Gateway, a literal path segment wins over a {parameter} (…/destinations/preview vs …/{id}).
    return sorted(found, key=lambda route: route.resource.count("{"))


def gateway_response(response_type: str, request_id: str, default_status: int) -> GatewayResult:
    _, api = _api_properties()
    configured = api.get("GatewayResponses", {}).get(response_type, {})
    template = configured.get("ResponseTemplates", {}).get("application/json", '{"message": null}')
    body = template.replace("$context.requestId", request_id)
    status = int(configured.get("StatusCode", default_status))
    return GatewayResult(status, {"Content-Type": "application/json", "x-amzn-RequestId": request_id}, body.encode())


class ApiGateway:
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.routes = routes()
        _, api = _api_properties()
        authorizers = api.get("Auth", {}).get("Authorizers", {})
        default = api.get("Auth", {}).get("DefaultAuthorizer")
        self._authorizer_function = _authorizer_logical_id(authorizers.get(default, {})) if default else None

    def handle(
        self, method: str, path: str, headers: dict[str, str], query: dict[str, list[str]], body: bytes | None
    ) -> GatewayResult:
        request_id = str(uuid.uuid4())
        method = method.upper()
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                break
        else:
            return gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id, 403)
        event = self._proxy_event(route, method, path, params, headers, query, body, request_id)
        if route.authorized and self._authorizer_function:
            context = self._authorize(event, route, method, path)
            if context is None:
                return gateway_response("UNAUTHORIZED", request_id, 401)
            event["requestContext"]["authorizer"] = context
        try:
            result = invoke(route.function, event)
        except Exception:
            return gateway_response("DEFAULT_5XX", request_id, 502)
        return _proxy_result(result, request_id)

    def _authorize(self, event: dict[str, Any], route: Route, method: str, path: str) -> dict[str, Any] | None:
        assert self._authorizer_function
        request = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{API_ID}/{self.stage}/{method}{path}",
            **{key: event[key] for key in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                            "queryStringParameters", "multiValueQueryStringParameters",
                                            "pathParameters", "stageVariables", "requestContext")},
        }  # fmt: skip
        try:
            response = invoke(self._authorizer_function, request)
        except Exception:
            return None  # API Gateway answers 401 when the authorizer raises "Unauthorized"
        statement = response["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            return None
        return {**response.get("context", {}), "principalId": response["principalId"]}

    def _proxy_event(
        self,
        route: Route,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        query: dict[str, list[str]],
        body: bytes | None,
        request_id: str,
    ) -> dict[str, Any]:
        text = body.decode("utf-8", errors="replace") if body else None
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers) or None,
            "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
            "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
            "multiValueQueryStringParameters": dict(query) or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": API_ID,
                "resourceId": "local",
                "resourcePath": route.resource,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
                "domainName": "127.0.0.1",
            },
            "body": text,
            "isBase64Encoded": False,
        }


def _authorizer_logical_id(authorizer: dict[str, Any]) -> str:
    arn = authorizer["FunctionArn"]
    return str(arn["Fn::GetAtt"][0] if isinstance(arn["Fn::GetAtt"], list) else arn["Fn::GetAtt"].split(".")[0])


def _proxy_result(result: dict[str, Any], request_id: str) -> GatewayResult:
    headers = {name: str(value) for name, value in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(value) for value in values)
    headers.setdefault("x-amzn-RequestId", request_id)
    raw = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(raw)
    else:
        body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    return GatewayResult(int(result["statusCode"]), headers, body)
