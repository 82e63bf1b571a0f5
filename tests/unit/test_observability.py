"""Tracing of Lambda handlers: never records responses or errors; in Lambda, AWS calls are traced. Delivery metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from nimriz_destinations import observability
from tests.lambda_process import run_like_lambda


class RecordingSubsegment:
    def __init__(self) -> None:
        self.metadata: list[tuple[str, Any]] = []
        self.annotations: dict[str, Any] = {}

    def put_metadata(self, key: str, value: Any, namespace: str = "") -> None:
        self.metadata.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class RecordingProvider:
    def __init__(self) -> None:
        self.subsegments: dict[str, RecordingSubsegment] = {}

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[RecordingSubsegment]:
        self.subsegments[name] = RecordingSubsegment()
        yield self.subsegments[name]


def test_a_traced_handler_gets_a_subsegment_without_its_response_or_error(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer(), "provider", provider)

    @observability.trace_handler
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("fail"):
            raise RuntimeError("whsec_revealed_once")
        return {"signing_secret": "whsec_revealed_once"}

    assert lambda_handler({}, None) == {"signing_secret": "whsec_revealed_once"}
    with pytest.raises(RuntimeError):
        lambda_handler({"fail": True}, None)

    subsegment = provider.subsegments["## lambda_handler"]
    assert "ColdStart" in subsegment.annotations
    assert subsegment.metadata == []


def test_in_lambda_the_tracer_patches_botocore_with_the_layers_xray_sdk() -> None:
    # The layer's aws-xray-sdk and wrapt (tracing-requirements.txt) patch the runtime's botocore; nothing else.
    run_like_lambda(
        "import botocore.client, httpx\n"
        "from nimriz_destinations import observability\n"
        "traced = observability.trace_handler(lambda event, context: 'done')\n"
        "assert traced({}, None) == 'done'\n"
        "assert observability.tracer().disabled is False\n"
        "assert hasattr(botocore.client.BaseClient._make_api_call, '__wrapped__')\n"
        "assert not hasattr(httpx.Client.send, '__wrapped__')\n",
        "get_destination",
    )


def test_in_lambda_a_handler_module_loads_the_xray_sdk_only_at_its_first_call() -> None:
    # The SDK builds an X-Ray client when it is imported: the largest part of a handler's import in Lambda.
    run_like_lambda(
        "import sys, get_destination\n"
        "assert 'aws_xray_sdk' not in sys.modules, 'the X-Ray SDK is imported with the handler module'\n"
        "assert 'botocore.client' not in sys.modules, 'an AWS client is made with the handler module'\n"
        "event = {'httpMethod': 'GET', 'path': '/', 'requestContext': {}, 'headers': {}}\n"
        "from tests.local.lambdas import FakeLambdaContext\n"
        "get_destination.lambda_handler(event, FakeLambdaContext('get_destination', 3))\n"
        "assert 'aws_xray_sdk.core' in sys.modules\n",
        "get_destination",
    )


def emf_documents(output: str) -> list[dict[str, Any]]:
    return [document for line in output.splitlines() if "_aws" in (document := json.loads(line))]


def test_a_retired_api_version_is_counted_without_the_destination_type_dimension_so_one_alarm_sees_every_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    linkedin = observability.DeliveryTally()
    linkedin.add("dead_lettered", failed=True, latency_ms=80, version_retired=True)
    linkedin.add("delivered", failed=False, latency_ms=70)
    meta = observability.DeliveryTally()
    meta.add("dead_lettered", failed=True, latency_ms=90)
    observability.emit_delivery_metrics({"linkedin": linkedin, "meta": meta})
    retired = [
        (
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            document["ApiVersionRetired"],
            document["destination_type"],
        )
        for document in emf_documents(capsys.readouterr().out)
        if "ApiVersionRetired" in document
    ]
    assert retired == [([["service"]], [1.0], "linkedin")]


def test_test_sends_are_counted_under_their_own_names_never_as_live_deliveries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = observability.DeliveryTally()
    live.add("delivered", failed=False, latency_ms=70)
    test_send = observability.DeliveryTally()
    test_send.add("delivered", failed=False, latency_ms=40)
    test_send.add("dead_lettered", failed=True, latency_ms=50)
    observability.emit_delivery_metrics({"generic_http": live}, test_sends={"generic_http": test_send})
    documents = emf_documents(capsys.readouterr().out)

    def values(name: str) -> list[float]:
        # Per destination type only: the live totals (dimension `service` alone) are checked below.
        found = [document[name] for document in documents if name in document and "destination_type" in document]
        return [value for item in found for value in (item if isinstance(item, list) else [item])]

    assert (sum(values("Delivered")), sum(values("DeadLettered")), sum(values("Failed"))) == (1, 0, 0)
    assert values("Latency") == [70]
    assert (sum(values("TestSendDelivered")), sum(values("TestSendDeadLettered")), sum(values("TestSendFailed"))) == (
        1,
        1,
        1,
    )
    assert sorted(values("TestSendLatency")) == [40, 50]


def test_live_delivery_totals_are_counted_without_the_destination_type_so_one_alarm_sees_every_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    linkedin = observability.DeliveryTally()
    linkedin.add("delivered", failed=False, latency_ms=70)
    linkedin.add("retrying", failed=True, latency_ms=80)
    meta = observability.DeliveryTally()
    meta.add("dead_lettered", failed=True, latency_ms=90)
    observability.emit_delivery_metrics({"linkedin": linkedin, "meta": meta})
    totals = [
        document
        for document in emf_documents(capsys.readouterr().out)
        if document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]] and "Delivered" in document
    ]
    assert [(d["Delivered"], d["Failed"], d["DeadLettered"]) for d in totals] == [([1.0], [2.0], [1.0])]
