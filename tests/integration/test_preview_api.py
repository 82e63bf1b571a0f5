"""Preview: filter verdict with the rejecting rule, the mapped payload, the exact request with secrets redacted and
nothing computed from a secret (a preview never signs or derives: `tests/derived_values.py`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimriz_destinations.models.destinations import MAX_ACTIONS
from nimriz_destinations.providers.base import COMPUTED_AT_SEND
from nimriz_destinations.providers.common import json_bytes
from nimriz_destinations.providers.generic_http import verify_signature
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.service.preview import MAX_PREVIEW_RESPONSE_BYTES
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


def event_with_utm_content(content: str) -> dict[str, Any]:
    event = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    event["utm"]["content"] = content
    return event


def copies_of_utm_content(count: int) -> dict[str, Any]:
    """A mapping of `count` copies of a field the visitor controls (the landing URL's utm_content)."""
    overrides = [{"type": "include", "field": "utm.content", "to": f"c{n}"} for n in range(count)]
    return {"base": "none", "overrides": overrides}


def test_preview_of_a_mapped_event_over_64_kb_answers_422_naming_the_action(api: ApiClient) -> None:
    actions = [
        {"name": "Small", "action_type": "send_event"},
        {"name": "Amplified", "action_type": "send_event", "property_mapping": copies_of_utm_content(5)},
    ]
    body = destination_body("segment", credentials={"write_key": WRITE_KEY}, actions=actions)
    created = api.post(BASE, body)
    assert created.status == 201, created.text
    event = event_with_utm_content("x" * 15_000)

    for response in (
        api.post(f"{BASE}/{created.json()['destination']['id']}/preview", {"event": event}),
        api.post(f"{BASE}/preview", {"destination": body, "event": event}),
    ):
        assert response.status == 422, response.text[:300]
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_FAILED"
        (detail,) = error["details"]
        assert detail["path"] == "actions[1].property_mapping"
        assert "over the 64 KB limit" in detail["reason"]


def test_the_largest_preview_stays_far_under_the_lambda_response_limit(api: ApiClient) -> None:
    # The worst case: the most actions, each mapping the event to just under 64 KB of characters that the
    # response escapes the most (one 4-byte character becomes "\ud83d\ude00": 12 bytes, 14 once Lambda's own
    # JSON escapes the backslashes), shown twice per action (the payload and the request body).
    actions = [
        {"name": f"Action {n}", "action_type": "send_webhook", "property_mapping": copies_of_utm_content(4)}
        for n in range(MAX_ACTIONS)
    ]
    body = destination_body("generic_http", actions=actions)
    created = api.post(BASE, body)
    assert created.status == 201, created.text
    destination_id = created.json()["destination"]["id"]
    event = event_with_utm_content("\U0001f600" * 3_900)  # 4 copies: 62,400 bytes of UTF-8 per mapped event

    response = api.post(
        f"{BASE}/{destination_id}/preview", raw=json.dumps({"event": event}, ensure_ascii=False).encode()
    )

    assert response.status == 200, response.text[:300]
    # The budget covers the event, payloads and requests; each action's other fields are well under 1 KB here.
    assert len(response.text) <= MAX_PREVIEW_RESPONSE_BYTES + MAX_ACTIONS * 1024
    lambda_response = json.dumps({"statusCode": 200, "headers": response.headers, "body": response.text})
    assert len(lambda_response) < 3 * 1024 * 1024  # Lambda refuses responses over 6 MB
    previewed = response.json()["actions"]
    assert len(previewed) == MAX_ACTIONS
    shown = [action for action in previewed if action["payload"] is not None]
    hidden = [action for action in previewed if action["payload"] is None]
    assert shown and hidden and previewed[: len(shown)] == shown  # shown in order until the budget is spent
    assert all(action["requests"] == [] and "action_id" in action["note"] for action in hidden)
    # A hidden action is shown in full when previewed alone.
    alone = api.post(
        f"{BASE}/{destination_id}/preview",
        raw=json.dumps({"action_id": hidden[-1]["action_id"], "event": event}, ensure_ascii=False).encode(),
    )
    (action,) = alone.json()["actions"]
    assert action["payload"]["c3"] == event["utm"]["content"] and action["requests"]


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
