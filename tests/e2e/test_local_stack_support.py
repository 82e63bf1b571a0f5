"""The runbook's support flow end to end on the local stack, with the admin token only (docs/operations.md,
"Helping a customer"): a customer's webhook fails until Nimriz disables it; support lists it failing, then
disabled, reads its deliveries and dead letters, re-enables it once the endpoint works and replays what failed,
and the customer's audit log shows the operator's opaque id for each change."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from nimriz_destinations.sample_events import sample_event
from tests.e2e.conftest import E2E_ADMIN_TOKEN, E2E_DISABLE_AFTER_SECONDS, E2E_DISABLE_MIN_FAILURES, RunningStack
from tests.local.apigw import LOCAL_ADMIN_ARN
from tests.sinks.server import Sink, SinkResponse
from tests.sinks.webhook_receiver import webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
WORKSPACE = "ws_e2e_support"
SECRET = "whsec_e2e_support_secret_0123456789"
CONFIG_CACHE_BOUND_SECONDS = 1.2  # CONFIG_CACHE_SECONDS=1 on the local stack


def client(stack: RunningStack, token: str) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.fixture
def customer(local_stack: RunningStack) -> Iterator[httpx.Client]:
    """The customer's own key (made as the platform makes one): only to set up its webhook and read its audit log."""
    with client(local_stack, E2E_ADMIN_TOKEN) as admin:
        made = admin.post(
            f"/admin/workspaces/{WORKSPACE}/api-keys",
            json={
                "label": "customer",
                "scopes": ["destinations:read", "destinations:write"],
                "organization_id": "org_e2e",
            },
        )
    assert made.status_code == 201, made.text
    with client(local_stack, made.json()["secret"]) as api:
        yield api
        for destination in api.get("/api/integrations/destinations").json()["destinations"]:
            api.delete(f"/api/integrations/destinations/{destination['id']}")


@pytest.fixture
def support(local_stack: RunningStack) -> Iterator[httpx.Client]:
    with client(local_stack, E2E_ADMIN_TOKEN) as admin:
        yield admin


def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met before the timeout")


def click() -> dict[str, Any]:
    return sample_event("link.clicked", workspace_id=WORKSPACE, organization_id="org_e2e")


def post_events(stack: RunningStack, *events: dict[str, Any]) -> None:
    response = httpx.post(f"{stack.base_url}/_local/events", json=list(events))
    assert response.status_code == 202, response.text


def listed(support: httpx.Client, health: str) -> list[dict[str, Any]]:
    """Every destination of this test's workspace in the cross-workspace list, page by page."""
    found, cursor = [], None
    while True:
        params: dict[str, str | int] = {"health": health, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = support.get("/admin/destinations", params=params)
        assert response.status_code == 200, response.text
        found += [d for d in response.json()["destinations"] if d["workspace_id"] == WORKSPACE]
        if not (cursor := response.json()["next_cursor"]):
            return found


def test_support_lists_a_failing_destination_reads_its_log_re_enables_it_and_replays_with_the_admin_token_only(
    local_stack: RunningStack, customer: httpx.Client, support: httpx.Client
) -> None:
    receiver = webhook_receiver(SECRET)
    with Sink(lambda request: SinkResponse(400, {"error": "refused"})) as endpoint:
        made = customer.post(
            "/api/integrations/destinations",
            json={
                "name": "Customer webhook",
                "type": "generic_http",
                "credentials": {"url": endpoint.url, "signing_secret": SECRET},
                "actions": [{"name": "Events", "action_type": "send_webhook"}],
            },
        )
        assert made.status_code == 201, made.text
        destination_id = made.json()["destination"]["id"]
        path = f"/admin/workspaces/{WORKSPACE}/destinations/{destination_id}"
        time.sleep(CONFIG_CACHE_BOUND_SECONDS)

        events = [click() for _ in range(E2E_DISABLE_MIN_FAILURES)]
        post_events(local_stack, *events)
        (failing,) = wait_for(lambda: listed(support, "failing"))
        assert failing["id"] == destination_id and failing["enabled"] is True
        assert failing["health"]["state"] == "failing" and failing["health"]["consecutive_failures"] >= 2

        time.sleep(E2E_DISABLE_AFTER_SECONDS)  # no success for the whole window: the next failure disables it
        last = click()
        post_events(local_stack, last)
        (disabled,) = wait_for(lambda: listed(support, "disabled"))
        assert disabled["id"] == destination_id and disabled["enabled"] is False
        assert listed(support, "failing") == []

        shown = support.get(path).json()["destination"]
        assert shown["health"]["state"] == "disabled" and shown["health"]["disabled_reason"]
        log = support.get(f"{path}/deliveries", params={"status": "dead_lettered"}).json()["deliveries"]
        assert sorted(d["event_id"] for d in log) == sorted(e["id"] for e in [*events, last])
        letters = support.get(f"{path}/dead-letters").json()["dead_letters"]
        assert {letter["http_status"] for letter in letters} == {400} and len(letters) == len(events) + 1

        endpoint.handler = receiver  # the customer fixed the endpoint
        enabled = support.post(f"{path}/enable")
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["destination"]["enabled"] is True
        assert enabled.json()["destination"]["health"]["state"] == "healthy"
        assert listed(support, "disabled") == []
        time.sleep(CONFIG_CACHE_BOUND_SECONDS)

        replayed = support.post(f"{path}/dead-letters/replay", json={})
        assert replayed.status_code == 202, replayed.text
        assert len(replayed.json()["replayed"]) == len(letters)
        delivered = wait_for(lambda: len(receiver.verified) >= len(letters) and receiver.verified)
        assert sorted(d.event_id for d in delivered) == sorted(letter["event_id"] for letter in letters)
        assert {d.reason for d in delivered} == {"replay"}
        assert support.get(f"{path}/dead-letters").json()["dead_letters"] == []

    audit = customer.get("/api/integrations/audit-log", params={"limit": 20})
    entries = [e for e in audit.json()["audit_log"] if e["actor"]["type"] == "admin"]
    assert {e["action"] for e in entries} >= {"destination.enabled", "dead_letters.replayed"}
    assert all(e["actor"]["id"].startswith("adm_") for e in entries)
    assert LOCAL_ADMIN_ARN not in audit.text and "arn:" not in audit.text
