"""Preview: filter verdict with the rejecting rule, the mapped payload, the exact request with secrets redacted."""

from __future__ import annotations

from typing import Any

from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.factories import destination_body

BASE = "/api/integrations/destinations"
WRITE_KEY = "seg_preview_write_key_0123456789"


def segment_destination(api: ApiClient, **action: Any) -> dict[str, Any]:
    body = destination_body(
        "segment",
        credentials={"write_key": WRITE_KEY},
        actions=[{"name": "Clicks", "action_type": "send_event", **action}],
    )
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def test_saved_destination_preview_shows_payload_and_redacted_request(api: ApiClient) -> None:
    mapping = {"base": "default", "overrides": [{"type": "static", "to": "properties.source", "value": "nimriz"}]}
    destination = segment_destination(api, property_mapping=mapping)
    response = api.post(f"{BASE}/{destination['id']}/preview", {})
    assert response.status == 200, response.text
    (action,) = response.json()["actions"]
    assert action["filter"] == {"passed": True, "rejected_by": None}
    assert action["payload"]["event"] == "Link Clicked"
    assert action["payload"]["properties"]["source"] == "nimriz"
    (request,) = action["requests"]
    assert request["url"].endswith("/v1/track") and request["method"] == "POST"
    assert WRITE_KEY not in response.text
    assert request["headers"]["Authorization"] == "Basic [redacted]"


def test_preview_names_the_rule_that_rejected_the_event(api: ApiClient) -> None:
    destination = segment_destination(api, event_filter={"exclude": {"bot_traffic": True}})
    bot = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    bot["bot_flag"] = True
    (action,) = api.post(f"{BASE}/{destination['id']}/preview", {"event": bot}).json()["actions"]
    assert action["filter"] == {"passed": False, "rejected_by": "exclude.bot_traffic"}
    assert action["requests"] == [] and action["payload"] is None


def test_preview_of_an_unsaved_destination(api: ApiClient) -> None:
    body = {"destination": destination_body("generic_http"), "event": None}
    response = api.post(f"{BASE}/preview", body)
    assert response.status == 200, response.text
    (action,) = response.json()["actions"]
    (request,) = action["requests"]
    assert request["url"] == "https://hooks.example.com/nimriz"
    assert request["body"]["type"] == "link.clicked" and request["headers"]["X-Nim-Signature"].startswith("v1=")
    assert "SeCrEt" not in response.text


def test_preview_rejects_an_invalid_event_with_422(api: ApiClient) -> None:
    destination = segment_destination(api)
    response = api.post(f"{BASE}/{destination['id']}/preview", {"event": {"id": "x"}})
    assert response.status == 422
    assert response.json()["error"]["details"][0]["path"] == "event"
