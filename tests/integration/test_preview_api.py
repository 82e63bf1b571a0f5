"""Preview: filter verdict with the rejecting rule, the mapped payload, the exact request with secrets redacted and
nothing computed from a secret (a preview never signs or derives: `tests/derived_values.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from nimriz_destinations.providers.base import COMPUTED_AT_SEND
from nimriz_destinations.providers.common import json_bytes
from nimriz_destinations.providers.generic_http import verify_signature
from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.derived_values import CASES, credentials, secret_dependent, shown_derivations
from tests.factories import SECRET_MARK, destination_body

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
    assert request["headers"]["Authorization"] == "Basic [computed at send]"


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


SIGNING_SECRET = "whsec_preview_oracle_0123456789"


def webhook_destination(api: ApiClient) -> dict[str, Any]:
    credentials = {"url": "https://hooks.example.com/nimriz", "signing_secret": SIGNING_SECRET}
    response = api.post(BASE, destination_body("generic_http", credentials=credentials))
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def assert_no_valid_signature(preview: dict[str, Any]) -> None:
    requests = [request for action in preview["actions"] for request in action["requests"]]
    assert requests
    for request in requests:
        headers, body = request["headers"], json_bytes(request["body"])
        assert headers["X-Nim-Signature"] == f"v1={COMPUTED_AT_SEND}"
        assert not verify_signature(SIGNING_SECRET, headers["X-Nim-Signature"], headers["X-Nim-Timestamp"], body)


def test_a_read_only_key_gets_no_valid_signature_for_a_body_of_its_choosing(
    api: ApiClient, admin_api: ApiClient
) -> None:
    destination = webhook_destination(api)
    created = admin_api.post(
        "/admin/workspaces/ws_dev/api-keys",
        {"label": "dashboard", "scopes": ["destinations:read"], "organization_id": "org_dev"},
    )
    assert created.status == 201, created.text
    reader = ApiClient(api.gateway, created.json()["secret"])
    forged = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
    forged["conversion"]["value"] = 99999
    forged_send = {"event": forged}
    response = reader.post(f"{BASE}/{destination['id']}/preview", forged_send)
    assert response.status == 200, response.text
    assert_no_valid_signature(response.json())
    unsaved = {
        "destination": destination_body(
            "generic_http", credentials={"url": "https://hooks.example.com/nimriz", "signing_secret": SIGNING_SECRET}
        ),
        **forged_send,
    }
    response = reader.post(f"{BASE}/preview", unsaved)
    assert response.status == 200, response.text
    assert_no_valid_signature(response.json())


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_preview_over_the_api_shows_nothing_computed_from_a_secret(api: ApiClient, case: str) -> None:
    destination_type, _ = CASES[case]
    created = api.post(BASE, destination_body(destination_type, credentials=credentials(case)))
    assert created.status == 201, created.text
    response = api.post(f"{BASE}/{created.json()['destination']['id']}/preview", {})
    assert response.status == 200, response.text
    assert any(action["requests"] for action in response.json()["actions"])
    assert SECRET_MARK not in response.text
    assert not shown_derivations(response.text, case, secret_dependent(case)), response.text
