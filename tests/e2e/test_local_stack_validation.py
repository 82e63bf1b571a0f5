"""End to end over real sockets: a validate-mode test-send of a GA4 destination reaches the GA4 stand-in's validation
server (`/debug/mp/collect`) from the local stack, answers its verdict at once, and delivers nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import E2E_DEV_KEY, RunningStack
from tests.e2e.providers import PROVIDERS
from tests.e2e.test_local_stack_delivery import BASE, workspace_client
from tests.sinks.ga4 import COLLECT_PATH, VALIDATION_PATH, GA4Sink
from tests.sinks.server import Sink, SinkResponse
from tests.unit.test_validation_verdicts import GA4_DOCUMENTED_REFUSAL

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    yield from workspace_client(local_stack, E2E_DEV_KEY)


def test_ga4_validation_reaches_the_validation_server_and_delivers_nothing(
    api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    sink = provider_sinks["ga4"]
    handler = sink.handler
    assert isinstance(handler, GA4Sink)
    credentials = PROVIDERS["ga4"].credentials
    created = api.post(
        BASE,
        json={"name": "GA4", "type": "ga4", "credentials": credentials,
              "actions": [{"name": "Clicks", "action_type": "send_event"}]},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    url = f"{BASE}/{created.json()['destination']['id']}/test-send"
    seen = len(sink.requests)
    accepted = len(handler.accepted)

    valid = api.post(url, json={"mode": "validate"})
    sink.script.append(SinkResponse(200, GA4_DOCUMENTED_REFUSAL))
    invalid = api.post(url, json={"mode": "validate"})

    assert valid.status_code == 200, valid.text
    assert valid.json()["validation"]["provider"]["status"] == "valid"
    assert invalid.json()["validation"]["provider"]["status"] == "invalid"
    assert invalid.json()["validation"]["provider"]["messages"][0]["code"] == "NAME_INVALID"
    sent = sink.requests[seen:]
    assert [request.path for request in sent] == [VALIDATION_PATH, VALIDATION_PATH]
    assert COLLECT_PATH not in [request.path for request in sent] and len(handler.accepted) == accepted
    assert credentials["api_secret"] not in valid.text + invalid.text
    assert valid.json()["validation"]["request"]["body"] == json.loads(sent[0].body)
    deliveries = api.get(f"{BASE}/{created.json()['destination']['id']}/deliveries").json()["deliveries"]
    assert deliveries == []
