"""Shared fixtures: an in-process moto AWS built from template.yaml, and an API client over the gateway stand-in."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

# Fake credentials before anything creates a boto3 client: nothing may ever reach real AWS.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "NimrizDestinationsTest",
    "POWERTOOLS_SERVICE_NAME": "nimriz-destinations",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_DEDUPLICATION_DISABLED": "1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws  # noqa: E402

from nimriz_destinations import runtime  # noqa: E402
from tests.faults import FaultInjector  # noqa: E402
from tests.local.apigw import ApiGateway  # noqa: E402
from tests.local.seed import seed_keys  # noqa: E402
from tests.local.service_models import share_service_models  # noqa: E402
from tests.local.template import LocalStack, create_stack  # noqa: E402

DEV_KEY = "nim_test_dev_key_0123456789abcdef"
OTHER_WORKSPACE_KEY = "nim_test_other_key_0123456789abcdef"
# What the gateway stand-in accepts in place of a SigV4 signature on the admin API's AWS_IAM routes.
ADMIN_TOKEN = "nmz_admin_test_token_0123456789abcdef"

share_service_models()

# `make test`'s `--dist loadgroup` keeps each xdist_group on one worker (tests/xdist_groups.py).
pytest_plugins = ["tests.xdist_groups"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    with mock_aws():
        runtime.reset()
        stack = create_stack(stage="local")
        for name, value in stack.all_function_environments().items():
            monkeypatch.setenv(name, value)
        runtime.reset()
        seed_keys(stack.tables["DestinationsTable"], DEV_KEY, [("ws_other", OTHER_WORKSPACE_KEY)])
        yield stack
        runtime.reset()


@pytest.fixture
def faults(aws: LocalStack) -> Iterator[FaultInjector]:
    """Faults injected in front of moto on the project's own AWS clients (see tests/faults.py)."""
    with FaultInjector().installed() as injector:
        yield injector


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class ApiClient:
    """Drives the handlers through the API Gateway stand-in (authorizer included), in-process."""

    def __init__(self, gateway: ApiGateway, key: str | None) -> None:
        self.gateway = gateway
        self.key = key

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        key: str | None = "default",
    ) -> ApiResponse:
        parts = urlsplit(url)
        sent = {"content-type": "application/json", **(headers or {})}
        api_key = self.key if key == "default" else key
        if api_key:
            sent.setdefault("authorization", f"Bearer {api_key}")
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        result = self.gateway.handle(method, parts.path, sent, parse_qs(parts.query), payload)
        return ApiResponse(result.status, result.headers, result.body.decode())

    def get(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("POST", url, body, **kwargs)

    def put(self, url: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        return self.request("PUT", url, body, **kwargs)

    def patch(self, url: str, body: Any = None, **kwargs: Any) -> ApiResponse:
        """A JSON Merge Patch (RFC 7396): sent as application/merge-patch+json unless `headers` say otherwise."""
        headers = {"content-type": "application/merge-patch+json", **kwargs.pop("headers", {})}
        return self.request("PATCH", url, body, headers=headers, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> ApiResponse:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def api(aws: LocalStack) -> ApiClient:
    return ApiClient(ApiGateway(stage="local", admin_token=ADMIN_TOKEN), DEV_KEY)


@pytest.fixture
def other_api(aws: LocalStack) -> ApiClient:
    return ApiClient(ApiGateway(stage="local", admin_token=ADMIN_TOKEN), OTHER_WORKSPACE_KEY)


@pytest.fixture
def admin_api(aws: LocalStack) -> ApiClient:
    """The admin API's caller (the Nimriz platform's backend): signed in as the stand-in's admin."""
    return ApiClient(ApiGateway(stage="local", admin_token=ADMIN_TOKEN), ADMIN_TOKEN)


@pytest.fixture
def highest_request_limits(admin_api: ApiClient) -> None:
    """The dev workspace at the highest request limit an admin may set (design §9.6): for generated-input tests,
    which send a thousand requests within seconds to check answers, not the limit (tests/integration/test_limits.py
    and the local stack's test do)."""
    from nimriz_destinations.limits import MAX_BURST, MAX_REQUESTS_PER_SECOND

    limits = {"requests_per_second": MAX_REQUESTS_PER_SECOND, "burst": MAX_BURST}
    response = admin_api.put("/admin/workspaces/ws_dev/limits", limits)
    assert response.status == 200, response.text
