"""An API Gateway (REST, proxy integration) stand-in driven by template.yaml.

Routes come from the functions' `Api` events, on whichever API of the template they belong to (all served on one
port). The workspace API's Lambda authorizer is called with a REQUEST event and its context passed on; AWS_IAM
routes (the admin API) take `Authorization: Bearer <admin token>` in place of a SigV4 signature. Gateway errors use
the route's API's GatewayResponses bodies, so local behaviour follows what will be deployed.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from nimriz_destinations import aws
from nimriz_destinations.cache import TTLCache

from .lambdas import ACCOUNT_ID, invoke
from .template import api_id, functions, load_template

# The IAM principal a valid admin token stands for (what API Gateway puts in requestContext.identity).
LOCAL_ADMIN_ARN = f"arn:aws:iam::{ACCOUNT_ID}:user/nimriz-local-admin"
IAM = "AWS_IAM"


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # e.g. /api/integrations/destinations/{id}
    function: str  # logical id
    api: str  # logical id of the API the route is on
    authorizer: str | None  # a Lambda authorizer's name in the API's Authorizers, AWS_IAM, or None (public)
    api_key_required: bool
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


@cache
def _apis() -> dict[str, dict[str, Any]]:
    resources = load_template()["Resources"]
    return {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Serverless::Api"}


def _workspace_api() -> str:
    """The API whose default authorizer is a Lambda authorizer: it answers paths no route matches."""
    (logical_id,) = [k for k, api in _apis().items() if api.get("Auth", {}).get("DefaultAuthorizer") not in (None, IAM)]
    return logical_id


def routes() -> list[Route]:
    found = []
    for logical_id, function in functions().items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            properties = event["Properties"]
            api = properties["RestApiId"]["Ref"]
            resource = properties["Path"]
            authorizer = properties.get("Auth", {}).get("Authorizer") or _apis()[api].get("Auth", {}).get(
                "DefaultAuthorizer"
            )
            pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource)))
            key_required = properties.get("Auth", {}).get("ApiKeyRequired")
            if key_required is None:
                key_required = _apis()[api].get("Auth", {}).get("ApiKeyRequired", False)
            found.append(
                Route(
                    method=properties["Method"].upper(),
                    resource=resource,
                    function=logical_id,
                    api=api,
                    authorizer=None if authorizer in (None, "NONE") else authorizer,
                    api_key_required=bool(key_required),
                    pattern=pattern,
                )
            )
    # Like API Gateway, a literal path segment wins over a {parameter} (…/destinations/preview vs …/{id}).
    return sorted(found, key=lambda route: route.resource.count("{"))


def gateway_response(api: str, response_type: str, request_id: str, default_status: int) -> GatewayResult:
    configured = _apis()[api].get("GatewayResponses", {}).get(response_type, {})
    template = configured.get("ResponseTemplates", {}).get("application/json", '{"message": null}')
    body = template.replace("$context.requestId", request_id)
    status = int(configured.get("StatusCode", default_status))
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": request_id}
    # Static header values are quoted in the template ("'1'").
    headers.update({k: v.strip("'") for k, v in configured.get("ResponseParameters", {}).get("Headers", {}).items()})
    return GatewayResult(status, headers, body.encode())


@dataclass
class TokenBucket:
    """API Gateway's throttling algorithm: `burst` tokens at most, refilled at `rate` per second."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class UsagePlanThrottles:
    """The bucket a request with a given usage key takes a token from, per the plans in the AWS stand-in."""

    def __init__(self, stage: str) -> None:
        self._stage = stage
        # As long as the local stack's other caches (AUTH_CACHE_SECONDS=1): a changed plan counts within a second.
        self._plans: TTLCache[tuple[str, dict[str, Any]] | None] = TTLCache(max_entries=1000, ttl_seconds=1)
        self._buckets: dict[tuple[Any, ...], TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, api: str, usage_key: str, method: str, resource: str) -> str | None:
        """None when the request may pass, else the gateway response type refusing it."""
        found = self._plans.get_or_load((api, usage_key), lambda: self._plan_of(api, usage_key))
        if found is None:
            return "INVALID_API_KEY"
        plan_id, stage = found
        throttle = stage.get("throttle", {}).get(f"{resource}/{method}")
        scope = f"{resource}/{method}" if throttle else "*"
        throttle = throttle or stage["plan_throttle"]
        rate, burst = float(throttle["rateLimit"]), int(throttle["burstLimit"])
        with self._lock:
            bucket = self._buckets.setdefault((usage_key, plan_id, scope, rate, burst), TokenBucket(rate, burst))
            return None if bucket.take() else "THROTTLED"

    def _plan_of(self, api: str, usage_key: str) -> tuple[str, dict[str, Any]] | None:
        client = aws.apigateway()
        keys = client.get_api_keys(includeValues=True)["items"]
        key_id = next((key["id"] for key in keys if key.get("value") == usage_key), None)
        if key_id is None:
            return None
        for plan in client.get_usage_plans(keyId=key_id)["items"]:
            for stage in plan.get("apiStages", []):
                if stage["apiId"] == api_id(api) and stage["stage"] == self._stage:
                    return plan["id"], {**stage, "plan_throttle": plan["throttle"]}
        return None


class ApiGateway:
    def __init__(self, stage: str, *, admin_token: str | None = None) -> None:
        self.stage = stage
        self.routes = routes()
        # Without a token every AWS_IAM route is refused, as API Gateway refuses unsigned requests.
        self._admin_token = admin_token
        self._throttles = UsagePlanThrottles(stage)

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
            return gateway_response(_workspace_api(), "MISSING_AUTHENTICATION_TOKEN", request_id, 403)
        event = self._proxy_event(route, method, path, params, headers, query, body, request_id)
        if route.authorizer == IAM:
            refusal = self._iam_refusal(headers)
            if refusal:
                return gateway_response(route.api, refusal, request_id, 403)
            event["requestContext"]["identity"].update(
                {"userArn": LOCAL_ADMIN_ARN, "caller": "AIDALOCALADMIN", "accountId": ACCOUNT_ID}
            )
        elif route.authorizer:
            authorized = self._authorize(event, route, method, path)
            if authorized is None:
                return gateway_response(route.api, "UNAUTHORIZED", request_id, 401)
            context, usage_key = authorized
            refusal = self._throttle(route, usage_key)
            if refusal:
                return gateway_response(route.api, refusal, request_id, 429 if refusal == "THROTTLED" else 403)
            event["requestContext"]["authorizer"] = context
        try:
            result = invoke(route.function, event)
        except Exception:
            return gateway_response(route.api, "DEFAULT_5XX", request_id, 502)
        return _proxy_result(result, request_id)

    def _iam_refusal(self, headers: dict[str, str]) -> str | None:
        """The gateway response API Gateway would give an unsigned or wrongly signed request, or None."""
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "MISSING_AUTHENTICATION_TOKEN"
        if not self._admin_token or not hmac.compare_digest(token.strip().encode(), self._admin_token.encode()):
            return "INVALID_SIGNATURE"
        return None

    def _throttle(self, route: Route, usage_key: str | None) -> str | None:
        """The gateway response type refusing the request for its usage plan, or None."""
        if not route.api_key_required or _apis()[route.api].get("ApiKeySourceType") != "AUTHORIZER":
            return None
        if not usage_key:
            return "INVALID_API_KEY"
        return self._throttles.take(route.api, usage_key, route.method, route.resource)

    def _authorize(
        self, event: dict[str, Any], route: Route, method: str, path: str
    ) -> tuple[dict[str, Any], str | None] | None:
        assert route.authorizer
        function = _authorizer_logical_id(_apis()[route.api]["Auth"]["Authorizers"][route.authorizer])
        request = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{api_id(route.api)}/{self.stage}/{method}{path}",
            **{key: event[key] for key in ("resource", "path", "httpMethod", "headers", "multiValueHeaders",
                                            "queryStringParameters", "multiValueQueryStringParameters",
                                            "pathParameters", "stageVariables", "requestContext")},
        }  # fmt: skip
        try:
            response = invoke(function, request)
        except Exception:
            return None  # API Gateway answers 401 when the authorizer raises "Unauthorized"
        statement = response["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            return None
        context = {**response.get("context", {}), "principalId": response["principalId"]}
        return context, response.get("usageIdentifierKey")

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
                "apiId": api_id(route.api),
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
