"""PATCH /api/integrations/destinations/{id} with a JSON Merge Patch (RFC 7396; issue 20 item 7): the patch merged
onto the stored destination, then validated, saved and audited as PUT does (design §9.4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ApiClient, ApiResponse
from tests.factories import SECRET_MARK, VALID_CREDENTIALS, action_body, destination_body
from tests.integration.test_audit_log import changes_of, entries
from tests.integration.test_destinations_api import BASE, aws_item, aws_secret, create
from tests.local.template import LocalStack


def stored_credentials(aws: LocalStack, destination_id: str) -> dict[str, Any]:
    doc = json.loads(aws_item(aws, "ws_dev", destination_id)["doc"]["S"])
    stored: dict[str, Any] = json.loads(aws_secret(doc["secret_arn"], doc["secret_version"]))
    return stored


def test_a_patch_changes_only_what_it_names(api: ApiClient, aws: LocalStack) -> None:
    destination = create(api, destination_body("segment", actions=[action_body("send_event")] * 2))
    credentials_before = stored_credentials(aws, destination["id"])

    response = api.patch(f"{BASE}/{destination['id']}", {"name": "Renamed"})

    assert response.status == 200, response.text
    patched = response.json()["destination"]
    assert patched["name"] == "Renamed"
    assert patched["version"] == 2 and response.header("ETag") == '"v2"'
    unchanged = ("enabled", "credentials", "type", "created_at")
    assert {name: patched[name] for name in unchanged} == {name: destination[name] for name in unchanged}
    # Saved as PUT saves: the same actions, their update time the destination's.
    same = [{**action, "updated_at": patched["updated_at"]} for action in destination["actions"]]
    assert patched["actions"] == same
    assert stored_credentials(aws, destination["id"]) == credentials_before


def test_credentials_merge_per_field_null_removing_one_and_no_secret_is_echoed(api: ApiClient, aws: LocalStack) -> None:
    destination = create(api, destination_body("generic_http"))
    patch = {"credentials": {"url": "https://hooks.example.org/moved", "headers": None}}

    response = api.patch(f"{BASE}/{destination['id']}", patch)

    assert response.status == 200, response.text
    assert SECRET_MARK not in response.text
    credentials = response.json()["destination"]["credentials"]
    assert credentials["url"] == "https://hooks.example.org/moved" and credentials["headers"] == {}
    stored = stored_credentials(aws, destination["id"])
    original = VALID_CREDENTIALS["generic_http"]
    assert stored == {
        "url": "https://hooks.example.org/moved",
        "method": "POST",
        "headers": {},  # removed: the type's default
        "signing_secret": original["signing_secret"],
    }


def test_actions_present_in_a_patch_replace_the_list_as_a_whole(api: ApiClient) -> None:
    destination = create(api, destination_body("segment", actions=[action_body("send_event")] * 3))
    kept = destination["actions"][1]

    response = api.patch(f"{BASE}/{destination['id']}", {"actions": [{**action_body("send_event"), "id": kept["id"]}]})

    assert response.status == 200, response.text
    (action,) = response.json()["destination"]["actions"]
    assert action["id"] == kept["id"] and action["created_at"] == kept["created_at"]


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"enabled": "maybe"}, "enabled"),
        ({"type": "ga4"}, "type"),
        ({"colour": "blue"}, "colour"),
        ({"credentials": {"url": "http://hooks.example.com/plain"}}, "credentials.url"),
        ({"credentials": {"url": None}}, "credentials.url"),
        ({"actions": []}, "actions"),
        ({"actions": [{**action_body("send_webhook"), "id": "00000000-0000-4000-8000-000000000000"}]}, "actions[0].id"),
    ],
)
def test_the_merged_destination_is_validated_as_put_validates(
    api: ApiClient, aws: LocalStack, patch: dict[str, Any], path: str
) -> None:
    destination = create(api, destination_body("generic_http"))

    response = api.patch(f"{BASE}/{destination['id']}", patch)

    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert path in [detail["path"] for detail in error["details"]], error
    assert SECRET_MARK not in response.text
    assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["version"] == 1


@pytest.mark.parametrize("body", [[{"op": "replace", "path": "/name", "value": "x"}], "x", 3])
def test_a_patch_that_is_not_an_object_is_refused(api: ApiClient, body: Any) -> None:
    destination = create(api, destination_body("segment"))

    response = api.patch(f"{BASE}/{destination['id']}", body)

    assert response.status == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize("content_type", ["application/json", "application/json-patch+json", "text/plain", None])
def test_other_content_types_are_refused_with_415_and_the_error_body(api: ApiClient, content_type: str | None) -> None:
    destination = create(api, destination_body("segment"))
    url = f"{BASE}/{destination['id']}"
    raw = json.dumps({"name": "x"}).encode()

    if content_type is None:
        result = api.gateway.handle("PATCH", url, {"authorization": f"Bearer {api.key}"}, {}, raw)
        response = ApiResponse(result.status, result.headers, result.body.decode())
    else:
        response = api.patch(url, raw=raw, headers={"content-type": content_type})

    assert response.status == 415, response.text
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/merge-patch+json" in response.json()["error"]["message"]
    assert api.get(url).json()["destination"]["name"] == destination["name"]


def test_if_match_guards_a_patch_as_it_guards_a_put(api: ApiClient) -> None:
    destination = create(api, destination_body("segment"))
    url = f"{BASE}/{destination['id']}"

    assert api.patch(url, {"name": "first"}, headers={"if-match": '"v1"'}).status == 200
    stale = api.patch(url, {"name": "second"}, headers={"if-match": '"v1"'})

    assert stale.status == 412 and stale.json()["error"]["code"] == "PRECONDITION_FAILED"
    assert api.patch(url, {"name": "second"}, headers={"if-match": '"v2"'}).status == 200
    assert api.get(url).json()["destination"]["name"] == "second"


def test_a_patch_is_audited_as_a_put_is(api: ApiClient) -> None:
    destination = create(api, destination_body("generic_http", name="Hook"))
    url = f"{BASE}/{destination['id']}"

    assert api.patch(url, {"enabled": False}).status == 200
    assert (
        api.patch(url, {"name": "Hook (EU)", "credentials": {"signing_secret": "whsec_rotated_by_patch_0001"}}).status
        == 200
    )

    updated, disabled = entries(api)[:2]
    assert disabled["action"] == "destination.disabled" and changes_of(disabled) == {"enabled": (True, False)}
    assert updated["action"] == "destination.updated"
    changes = changes_of(updated)
    assert changes["name"] == ("Hook", "Hook (EU)")
    assert "credentials.signing_secret" in changes
    assert "whsec_rotated_by_patch_0001" not in json.dumps(updated) and SECRET_MARK not in json.dumps(updated)
