"""A handled 500 is a response, not a Lambda error: the API counts it itself (`ApiServerErrors`), so the API's
5xx-rate alarm sees a DynamoDB outage or a bad IAM policy that fails every request (docs/operations.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimriz_destinations.observability import API_SERVER_ERRORS_METRIC
from tests.conftest import ApiClient
from tests.faults import Fault, FaultInjector


def server_error_counts(output: str) -> list[tuple[Any, Any, Any]]:
    """(dimension sets, value, `api` dimension) of every ApiServerErrors EMF document in `output`."""
    found = []
    for line in output.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        if API_SERVER_ERRORS_METRIC in document and "_aws" in document:
            dimensions = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            found.append((dimensions, document[API_SERVER_ERRORS_METRIC], document.get("api")))
    return found


def test_a_handled_500_of_the_workspace_api_is_counted_once_with_its_api(
    api: ApiClient, faults: FaultInjector, capsys: pytest.CaptureFixture[str]
) -> None:
    faults.fail("dynamodb", "Query", fault=Fault.SERVER_ERROR)
    response = api.get("/api/integrations/destinations")
    assert response.status == 500 and response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert server_error_counts(capsys.readouterr().out) == [([["api", "service"]], [1.0], "workspace")]


def test_answers_below_500_are_not_counted_as_server_errors(api: ApiClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert api.get("/api/integrations/destinations/dst_unknown").status == 404
    assert api.post("/api/integrations/destinations", {"name": ""}).status == 422
    assert server_error_counts(capsys.readouterr().out) == []


def test_a_handled_500_of_the_admin_api_is_counted_with_the_admin_api(
    admin_api: ApiClient, faults: FaultInjector, capsys: pytest.CaptureFixture[str]
) -> None:
    faults.fail("dynamodb", "Query", fault=Fault.SERVER_ERROR)
    assert admin_api.get("/admin/workspaces/ws_dev/api-keys").status == 500
    assert server_error_counts(capsys.readouterr().out) == [([["api", "service"]], [1.0], "admin")]
