"""Call the interstitial functions' handlers with API Gateway (REST proxy) events, as the local stack does.

For the browser tests and `tests.browser.measure`, which serve the page from a plain loopback server (no template,
authorizer or moto tables: the page function needs only the token key). The integration tests drive the same
routes through `tests.local.apigw.ApiGateway` (the `api` fixture), like every other function.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tests.local.lambdas import FakeLambdaContext
from tests.local.template import ROOT, Handler


@dataclass
class FunctionResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def load_function(name: str) -> Handler:
    """`functions/<name>/<name>.py`'s lambda_handler, imported once under a module name of its own."""
    module_name = f"nimriz_interstitial_function_{name}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / f"{name}.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    handler: Handler = module.lambda_handler
    return handler


def invoke_function(name: str, event: dict[str, Any]) -> FunctionResponse:
    result = load_function(name)(event, FakeLambdaContext(name, timeout_seconds=10))
    headers = {key: str(value) for key, value in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ", ".join(str(value) for value in values)
    return FunctionResponse(int(result["statusCode"]), headers, result.get("body") or "")


def proxy_event(
    method: str,
    path: str,
    *,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    body: Any = None,
    authorizer: dict[str, str] | None = None,
    stage: str = "local",
    domain_name: str = "127.0.0.1",
) -> dict[str, Any]:
    headers = {"content-type": "application/json"} if body is not None else {}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "domainName": domain_name,
            "identity": {"sourceIp": "127.0.0.1"},
            **({"authorizer": authorizer} if authorizer else {}),
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
