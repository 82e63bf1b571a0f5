"""On the local stack: a LinkedIn destination renews its access token after a 401 and delivers; Google Ads
conversions carry the destination's ad_user_data consent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nimriz_destinations.sample_events import sample_event
from tests.e2e.conftest import E2E_DEV_KEY, RunningStack
from tests.e2e.providers import PROVIDERS
from tests.sinks.google_ads import GoogleAdsSink
from tests.sinks.linkedin import TOKEN_PATH, LinkedInSink
from tests.sinks.server import Sink

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
BASE = "/api/integrations/destinations"


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {E2E_DEV_KEY}"}
    with httpx.Client(base_url=local_stack.base_url, headers=headers, timeout=10) as client:
        yield client
        for destination in client.get(BASE, params={"limit": 100}).json()["destinations"]:
            client.delete(f"{BASE}/{destination['id']}")


def create(api: httpx.Client, name: str) -> str:
    body = {
        "name": f"{name} e2e",
        "type": name,
        "credentials": PROVIDERS[name].credentials,
        "actions": [{"name": "Forward", "action_type": "send_conversion"}],
    }
    response = api.post(BASE, json=body)
    assert response.status_code == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    assert destination["warnings"] == []  # a refresh token: nothing will expire unnoticed
    return str(destination["id"])


def delivered(api: httpx.Client, destination_id: str, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
        final = [d for d in found if d["event_id"] == event_id and d["status"] != "retrying"]
        if final:
            return dict(final[0])
        time.sleep(0.3)
    raise AssertionError(f"no final outcome for event {event_id}")


def send_sale(local_stack: RunningStack) -> dict[str, Any]:
    sale = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
    assert httpx.post(f"{local_stack.base_url}/_local/events", json=[sale]).status_code == 202
    return sale


def test_linkedin_refreshes_after_a_401_and_google_ads_sends_consent(
    local_stack: RunningStack, api: httpx.Client, provider_sinks: dict[str, Sink]
) -> None:
    linkedin_sink, google_sink = provider_sinks["linkedin"], provider_sinks["google_ads"]
    linkedin, google = linkedin_sink.handler, google_sink.handler
    assert isinstance(linkedin, LinkedInSink) and isinstance(google, GoogleAdsSink)
    linkedin_id, google_id = create(api, "linkedin"), create(api, "google_ads")
    time.sleep(1.2)  # past the local stack's config cache bound

    first = send_sale(local_stack)
    assert delivered(api, linkedin_id, first["id"])["status"] == "delivered"
    assert delivered(api, google_id, first["id"])["status"] == "delivered"
    assert google.uploaded[first["id"]]["consent"] == {"adUserData": "GRANTED"}

    linkedin.revoke_access_tokens()  # the dispatcher's cached LinkedIn token now answers 401
    seen = len(linkedin_sink.requests)
    second = send_sale(local_stack)
    assert delivered(api, linkedin_id, second["id"])["status"] == "delivered"
    after = list(zip(linkedin_sink.requests[seen:], linkedin_sink.responses[seen:], strict=True))
    assert [(request.path, response.status) for request, response in after] == [
        ("/rest/conversionEvents", 401),
        (TOKEN_PATH, 200),
        ("/rest/conversionEvents", 200),
    ]
    assert second["id"] in {event["eventId"] for event in linkedin.accepted}
