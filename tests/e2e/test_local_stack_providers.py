"""One destination per provider on the local stack, one live event each, all delivered to their sinks; and the
provider rules that need the whole pipeline to show (e.g. an old event still reaching Mixpanel)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from nimriz_destinations.sample_events import sample_event
from tests.e2e.conftest import E2E_DEV_KEY, RunningStack
from tests.e2e.providers import PROVIDERS
from tests.sinks.google_ads import GoogleAdsSink
from tests.sinks.server import Sink, SinkResponse

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
BASE = "/api/integrations/destinations"


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {E2E_DEV_KEY}"}
    with httpx.Client(base_url=local_stack.base_url, headers=headers, timeout=10) as client:
        yield client
        for destination in client.get(BASE, params={"limit": 100}).json()["destinations"]:
            client.delete(f"{BASE}/{destination['id']}")


def test_every_provider_receives_its_live_event(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    destinations: dict[str, str] = {}
    for name, setup in PROVIDERS.items():
        body = {
            "name": f"{name} e2e",
            "type": name,
            "credentials": setup.credentials,
            "actions": [{"name": "Forward", "action_type": setup.action_type}],
        }
        response = api.post(BASE, json=body)
        assert response.status_code == 201, f"{name}: {response.text}"
        destinations[name] = response.json()["destination"]["id"]
    time.sleep(1.2)  # past the local stack's config cache bound

    click = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    sale = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
    posted = httpx.post(f"{local_stack.base_url}/_local/events", json=[click, sale])
    assert posted.status_code == 202

    def expected_event(name: str) -> dict[str, Any]:
        return sale if PROVIDERS[name].action_type == "send_conversion" else click

    def outcome(name: str) -> dict[str, Any] | None:
        found = api.get(f"{BASE}/{destinations[name]}/deliveries").json()["deliveries"]
        mine = [d for d in found if d["event_id"] == expected_event(name)["id"] and d["status"] != "retrying"]
        return mine[0] if mine else None

    deadline = time.monotonic() + 60
    results: dict[str, dict[str, Any]] = {}
    while len(results) < len(PROVIDERS) and time.monotonic() < deadline:
        results.update({name: found for name in PROVIDERS if name not in results and (found := outcome(name))})
        time.sleep(0.3)

    assert set(results) == set(PROVIDERS), f"no final outcome for {set(PROVIDERS) - set(results)}"
    for name, delivery in results.items():
        assert delivery["status"] == "delivered", (name, delivery)
        assert provider_sinks[name].requests, f"{name}: its sink saw no request"


def test_a_meta_purchase_without_currency_fails_alone_and_the_lead_sent_with_it_is_delivered(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    setup = PROVIDERS["meta"]
    body = {
        "name": "meta batch e2e",
        "type": "meta",
        "credentials": setup.credentials,
        "actions": [{"name": "Forward", "action_type": setup.action_type}],
    }
    response = api.post(BASE, json=body)
    assert response.status_code == 201, response.text
    destination_id = response.json()["destination"]["id"]
    time.sleep(1.2)  # past the local stack's config cache bound

    purchase = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
    del purchase["conversion"]["currency"]
    lead = sample_event("conversion.lead", workspace_id="ws_dev", organization_id="org_dev")
    posted = httpx.post(f"{local_stack.base_url}/_local/events", json=[purchase, lead])
    assert posted.status_code == 202

    def final_outcomes() -> dict[str, dict[str, Any]]:
        found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
        return {d["event_id"]: d for d in found if d["status"] != "retrying"}

    deadline = time.monotonic() + 60
    outcomes = final_outcomes()
    while len(outcomes) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        outcomes = final_outcomes()

    assert outcomes[lead["id"]]["status"] == "delivered", outcomes[lead["id"]]
    refused = outcomes[purchase["id"]]
    assert (refused["status"], refused["last_error_class"]) == ("dead_lettered", "purchase_without_currency")
    received = [event["event_id"] for request in provider_sinks["meta"].requests for event in request.json()["data"]]
    assert lead["id"] in received and purchase["id"] not in received


def test_a_10_day_old_event_reaches_mixpanel_via_import_with_the_project_token(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    token = PROVIDERS["mixpanel"].credentials["project_token"]
    body = {
        "name": "mixpanel without a service account",
        "type": "mixpanel",
        "credentials": {"project_token": token},
        "actions": [{"name": "Forward", "action_type": "send_event"}],
    }
    created = api.post(BASE, json=body)
    assert created.status_code == 201, created.text
    destination_id = created.json()["destination"]["id"]
    time.sleep(1.2)  # past the local stack's config cache bound

    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    old = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev", now=ten_days_ago)
    assert httpx.post(f"{local_stack.base_url}/_local/events", json=[old]).status_code == 202

    def final_outcome() -> dict[str, Any] | None:
        found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
        return next((d for d in found if d["event_id"] == old["id"] and d["status"] != "retrying"), None)

    deadline = time.monotonic() + 60
    while (delivery := final_outcome()) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert delivery is not None and delivery["status"] == "delivered", delivery
    carrying = [
        request
        for request in provider_sinks["mixpanel"].requests
        if any(event["properties"].get("$insert_id") == old["id"] for event in request.json())
    ]
    assert [(request.path, request.query.get("project_id")) for request in carrying] == [("/import", None)]
    assert carrying[0].header("authorization") == "Basic " + base64.b64encode(f"{token}:".encode()).decode()


def test_a_self_hosted_posthog_answering_200_with_60_kb_of_brackets_is_sent_once_and_dead_lettered_invalid_response(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    body = {
        "name": "self-hosted posthog e2e",
        "type": "posthog",
        "credentials": {**PROVIDERS["posthog"].credentials, "host": "https://posthog.example.com"},
        "actions": [{"name": "Forward", "action_type": "send_event"}],
    }
    created = api.post(BASE, json=body)
    assert created.status_code == 201, created.text
    destination_id = created.json()["destination"]["id"]
    time.sleep(1.2)  # past the local stack's config cache bound

    sink = provider_sinks["posthog"]
    sink.script.append(SinkResponse(200, b"[" * 60_000))  # nested past any parser's stack
    click = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    assert httpx.post(f"{local_stack.base_url}/_local/events", json=[click]).status_code == 202

    def final_outcome() -> dict[str, Any] | None:
        found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
        return next((d for d in found if d["event_id"] == click["id"] and d["status"] != "retrying"), None)

    deadline = time.monotonic() + 60
    while (delivery := final_outcome()) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert delivery is not None, "no final outcome"
    assert (delivery["status"], delivery["last_error_class"], delivery["attempts"]) == (
        "dead_lettered",
        "invalid_response",
        1,
    )
    carrying = [request for request in sink.requests if any(e["uuid"] == click["id"] for e in request.json()["batch"])]
    assert len(carrying) == 1  # PostHog answered 200: the event is never sent again


def test_a_partial_refund_then_a_cancellation_adjust_the_google_ads_sale_at_once(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    setup = PROVIDERS["google_ads"]
    body = {
        "name": "google ads adjustments e2e",
        "type": "google_ads",
        "credentials": setup.credentials,
        "actions": [{"name": "Forward", "action_type": setup.action_type}],
    }
    created = api.post(BASE, json=body)
    assert created.status_code == 201, created.text
    destination_id = created.json()["destination"]["id"]
    time.sleep(1.2)  # past the local stack's config cache bound

    def delivered(event: dict[str, Any]) -> None:
        assert httpx.post(f"{local_stack.base_url}/_local/events", json=[event]).status_code == 202

        def final_outcome() -> dict[str, Any] | None:
            found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
            return next((d for d in found if d["event_id"] == event["id"] and d["status"] != "retrying"), None)

        deadline = time.monotonic() + 60
        while (delivery := final_outcome()) is None and time.monotonic() < deadline:
            time.sleep(0.3)
        assert delivery is not None and delivery["status"] == "delivered", (event["type"], delivery)

    sale = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
    delivered(sale)
    # Seconds after the sale: Google dropped its 24-hour wait for adjustments on 2024-09-09.
    refund = sample_event("conversion.refund", workspace_id="ws_dev", organization_id="org_dev")
    refund["conversion"] |= {"original_event_id": sale["id"], "value": 10, "original_value": 49.9}
    delivered(refund)
    cancellation = sample_event("conversion.cancellation", workspace_id="ws_dev", organization_id="org_dev")
    cancellation["conversion"]["original_event_id"] = sale["id"]
    delivered(cancellation)

    google = provider_sinks["google_ads"].handler
    assert isinstance(google, GoogleAdsSink)
    made = [
        (adjustment["adjustmentType"], adjustment.get("restatementValue", {}).get("adjustedValue"))
        for adjustment in google.adjustments
        if adjustment["orderId"] == sale["id"]
    ]
    assert made == [("RESTATEMENT", 39.9), ("RETRACTION", None)]
    assert sale["id"] in google.retracted


def _conversions_destination(api: httpx.Client, name: str, overrides: list[dict[str, Any]]) -> str:
    body = {
        "name": f"{name} e2e",
        "type": name,
        "credentials": PROVIDERS[name].credentials,
        "actions": [
            {
                "name": "Leads",
                "action_type": "send_conversion",
                "property_mapping": {"base": "default", "overrides": overrides},
            }
        ],
    }
    created = api.post(BASE, json=body)
    assert created.status_code == 201, created.text
    time.sleep(1.2)  # past the local stack's config cache bound
    return str(created.json()["destination"]["id"])


def _final_deliveries(api: httpx.Client, destination_id: str, event_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Event id -> its delivery once every one of `event_ids` has a final status (at most 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        found = api.get(f"{BASE}/{destination_id}/deliveries", params={"limit": 100}).json()["deliveries"]
        final = {d["event_id"]: d for d in found if d["event_id"] in event_ids and d["status"] != "retrying"}
        if len(final) == len(event_ids) or time.monotonic() > deadline:
            return final
        time.sleep(0.3)


def test_a_tiktok_batch_refused_for_one_event_delivers_its_batch_mates_each_request_an_attempt(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    # The conversion's value mapped into user.ttclid: a number where an event has one, which TikTok refuses with code
    # 40002 for the whole request, naming no event (the stand-in answers as TikTok's envelope does).
    destination_id = _conversions_destination(
        api, "tiktok", [{"type": "include", "field": "conversion.value", "to": "user.ttclid"}]
    )
    events = [sample_event("conversion.lead", workspace_id="ws_dev", organization_id="org_dev") for _ in range(3)]
    for index, event in enumerate(events):
        event["conversion"].pop("value", None)
        if index == 1:
            event["conversion"]["value"] = 42
    posted = {event["id"] for event in events}
    sink = provider_sinks["tiktok"]
    assert httpx.post(f"{local_stack.base_url}/_local/events", json=events).status_code == 202

    final = _final_deliveries(api, destination_id, posted)
    carried = [ids for r in list(sink.requests) if posted & (ids := {e["event_id"] for e in r.json()["data"]})]
    assert {event_id: d["status"] for event_id, d in final.items()} == {
        event["id"]: "dead_lettered" if index == 1 else "delivered" for index, event in enumerate(events)
    }, carried
    assert final[events[1]["id"]]["last_error_class"] == "tiktok_40002"
    for event_id, delivery in final.items():
        log = api.get(f"{BASE}/{destination_id}/deliveries/{delivery['id']}").json()["delivery"]["attempt_log"]
        rode = sum(event_id in ids for ids in carried)  # the requests the endpoint saw carrying it
        assert delivery["attempts"] == len(log) == rode, (delivery, log, carried)


def test_a_meta_throttle_waits_metas_time_to_regain_access_on_the_local_stack_too(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    from tests.sinks.meta import buc_throttled

    # The local stack retries after 1, 2, 4 ... seconds; a provider's own wait is honoured there as when deployed.
    destination_id = _conversions_destination(api, "meta", [])
    event = sample_event("conversion.lead", workspace_id="ws_dev", organization_id="org_dev")
    provider_sinks["meta"].script.append(buc_throttled(19))
    assert httpx.post(f"{local_stack.base_url}/_local/events", json=[event]).status_code == 202

    deadline = time.monotonic() + 30
    while True:
        found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
        if (mine := [d for d in found if d["event_id"] == event["id"]]) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    (delivery,) = mine
    (entry,) = api.get(f"{BASE}/{destination_id}/deliveries/{delivery['id']}").json()["delivery"]["attempt_log"]
    assert (delivery["status"], entry["outcome"], entry["error_class"]) == ("retrying", "throttled", "meta_error_80004")
    waited = datetime.fromisoformat(entry["next_attempt_at"]) - datetime.fromisoformat(entry["attempted_at"])
    assert timedelta(minutes=19) <= waited <= timedelta(minutes=19 * 1.2, seconds=1)
