"""Batching on the local stack: conversions posted together reach a batch-capable provider in full batches."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
import pytest

from nimriz_destinations.providers import get_provider
from nimriz_destinations.sample_events import sample_event
from tests.e2e.conftest import E2E_DEV_KEY, RunningStack, stack_settings
from tests.e2e.providers import PROVIDERS
from tests.local.stack import stack_process
from tests.local.template import functions
from tests.sinks.server import Sink

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
BASE = "/api/integrations/destinations"
CONVERSIONS = 20
CONFIG_CACHE_BOUND_SECONDS = 1.2  # the local stack caches destination configs for 1 s


@pytest.fixture(scope="module")
def quiet_stack(tmp_path_factory: pytest.TempPathFactory, provider_sinks: dict[str, Sink]) -> Iterator[RunningStack]:
    """A stack of its own: a dispatcher batch takes any BatchSize jobs of the queue, so other tests' retries coming
    back on the shared stack can fill a batch beside these conversions and split them across two."""
    with stack_process(stack_settings(provider_sinks), tmp_path_factory.mktemp("batching") / "stack.log") as stack:
        yield stack


@pytest.fixture
def api(quiet_stack: RunningStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {E2E_DEV_KEY}"}
    with httpx.Client(base_url=quiet_stack.base_url, headers=headers, timeout=10) as client:
        yield client


def test_conversions_posted_at_once_go_out_in_full_batches(
    quiet_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    setup = PROVIDERS["tiktok"]
    body = {
        "name": "tiktok batches",
        "type": "tiktok",
        "credentials": setup.credentials,
        "actions": [{"name": "Conversions", "action_type": "send_conversion"}],
    }
    created = api.post(BASE, json=body)
    assert created.status_code == 201, created.text
    destination_id = created.json()["destination"]["id"]
    time.sleep(CONFIG_CACHE_BOUND_SECONDS)
    conversions = [
        sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev") for _ in range(CONVERSIONS)
    ]
    posted = {event["id"] for event in conversions}
    sink = provider_sinks["tiktok"]

    assert httpx.post(f"{quiet_stack.base_url}/_local/events", json=conversions).status_code == 202

    def carrying() -> list[list[str]]:
        """The event ids of each request that carried posted conversions."""
        found = [[event["event_id"] for event in request.json()["data"]] for request in list(sink.requests)]
        return [ids for ids in found if posted & set(ids)]

    deadline = time.monotonic() + 60
    while sum(map(len, carrying())) < CONVERSIONS and time.monotonic() < deadline:
        time.sleep(0.2)
    requests = carrying()
    logged = api.get(f"{BASE}/{destination_id}/deliveries", params={"limit": 100}).json()["deliveries"]
    outcomes = sorted((d["status"], d["last_error_class"]) for d in logged)
    # A dispatcher batch holds at most the event source mapping's BatchSize jobs (live events come through the
    # Deliveries queue's), a request the provider's batch.
    source = functions()["DispatcherFunction"]["Properties"]["Events"]["Deliveries"]
    batch = min(get_provider("tiktok").max_batch_size, int(source["Properties"]["BatchSize"]))
    assert sorted(map(len, requests), reverse=True) == [
        min(batch, CONVERSIONS - start) for start in range(0, CONVERSIONS, batch)
    ], ([len(ids) for ids in requests], outcomes)
    assert len(requests) == math.ceil(CONVERSIONS / batch)
    assert api.delete(f"{BASE}/{destination_id}").status_code == 204
