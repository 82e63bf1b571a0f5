"""End to end over real sockets: live events posted to the local stack, then found in the delivery log by event id,
event type, status and time range, in full pages (design §3, "Searching the delivery log")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from nimriz_destinations.clock import iso_utc
from nimriz_destinations.sample_events import sample_event
from tests.e2e.conftest import E2E_DEV_KEY, RunningStack
from tests.e2e.test_local_stack_delivery import BASE, create_webhook, post_events, wait_for, workspace_client
from tests.sinks.server import Sink, SinkRequest, SinkResponse

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
CLICKS = 9
SCANS = 3


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    yield from workspace_client(local_stack, E2E_DEV_KEY)


def every_page(api: httpx.Client, path: str, limit: int, **query: str) -> list[list[dict[str, Any]]]:
    found: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        response = api.get(path, params={**query, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        found.append(body["deliveries"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) <= CLICKS + SCANS


def test_live_deliveries_are_found_by_event_type_status_event_id_and_time_in_full_pages(
    local_stack: RunningStack, api: httpx.Client
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = [
        sample_event(
            "link.qr_scanned" if index % 4 == 3 else "link.clicked",
            workspace_id="ws_dev",
            organization_id="org_dev",
            now=start + timedelta(minutes=index),
        )
        for index in range(CLICKS + SCANS)
    ]
    refused = events[5]["id"]

    def refusing_one(request: SinkRequest) -> SinkResponse:
        return SinkResponse(400, {"error": "refused"}) if json.loads(request.body)["id"] == refused else SinkResponse()

    with Sink(refusing_one) as sink:
        destination = create_webhook(api, f"{sink.url}/hook")
        path = f"{BASE}/{destination['id']}/deliveries"
        post_events(local_stack, *events)
        everything = wait_for(
            lambda: (
                (found := api.get(path, params={"limit": 100}).json()["deliveries"])
                and len(found) == len(events)
                and all(d["status"] in ("delivered", "dead_lettered") for d in found)
                and found
            )
        )

    scans = every_page(api, path, 2, event_type="link.qr_scanned")
    assert [len(page) for page in scans] == [2, 1]
    assert [d["event_id"] for page in scans for d in page] == [
        e["id"] for e in reversed(events) if e["type"] == "link.qr_scanned"
    ]

    (dead,) = every_page(api, path, 10, status="dead_lettered")
    assert [d["event_id"] for d in dead] == [refused]
    (delivered_clicks,) = every_page(api, path, 20, status="delivered", event_type="link.clicked")
    assert len(delivered_clicks) == CLICKS - 1

    (by_event,) = every_page(api, path, 10, event_id=events[7]["id"])
    assert [d["id"] for d in by_event] == [d["id"] for d in everything if d["event_id"] == events[7]["id"]]

    window = every_page(
        api, path, 3, since=iso_utc(start + timedelta(minutes=2)), until=iso_utc(start + timedelta(minutes=8))
    )
    assert [len(page) for page in window] == [3, 3]
    assert [d["event_id"] for page in window for d in page] == [e["id"] for e in reversed(events[2:8])]

    refused_search = api.get(path, params={"since": "last tuesday"})
    assert refused_search.status_code == 422
    assert refused_search.json()["error"]["code"] == "VALIDATION_FAILED"
