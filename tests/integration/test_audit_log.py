"""The audit log: destination changes are recorded with who, when and a redacted diff, listed per workspace."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from nimriz_destinations.redaction import hint
from nimriz_destinations.storage.audit import audit_pk
from tests.conftest import ApiClient
from tests.factories import VALID_CREDENTIALS, action_body, destination_body
from tests.faults import Fault, FaultInjector
from tests.local.template import LocalStack
from tests.secret_encodings import ENCODINGS

BASE = "/api/integrations/destinations"
AUDIT = "/api/integrations/audit-log"


def audit_log(api: ApiClient, query: str = "") -> dict[str, Any]:
    response = api.get(f"{AUDIT}?{query}")
    assert response.status == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def entries(api: ApiClient) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = audit_log(api, "limit=100")["audit_log"]
    return listed


def changes_of(entry: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {change["path"]: (change["before"], change["after"]) for change in entry["changes"]}


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def stored_audit_items(stack: LocalStack, workspace_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").query(
        TableName=stack.tables["DestinationsTable"],
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": audit_pk(workspace_id)}},
    )["Items"]
    return items


def test_create_update_disable_and_delete_are_listed_newest_first_with_who_when_and_what(api: ApiClient) -> None:
    destination = create(api, destination_body("segment", name="Clicks"))
    url = f"{BASE}/{destination['id']}"
    action = destination["actions"][0]
    renamed = {"name": "Clicks (EU)", "actions": [{**action_body("send_event"), "id": action["id"]}]}
    assert api.put(url, renamed).status == 200
    assert api.put(url, {**renamed, "enabled": False}).status == 200
    assert api.delete(url).status == 204

    deleted, disabled, updated, created = entries(api)
    assert [e["action"] for e in (deleted, disabled, updated, created)] == [
        "destination.deleted",
        "destination.disabled",
        "destination.updated",
        "destination.created",
    ]
    for entry in (deleted, disabled, updated, created):
        assert entry["target"] == {"type": "destination", "id": destination["id"]}
        assert entry["actor"]["type"] == "api_key" and entry["actor"]["id"]
        assert entry["at"].endswith("Z")
    assert created["at"] <= updated["at"] <= disabled["at"] <= deleted["at"]

    assert changes_of(created)["name"] == (None, "Clicks")
    assert changes_of(created)[f"actions[{action['id']}].action_type"] == (None, "send_event")
    assert changes_of(updated) == {"name": ("Clicks", "Clicks (EU)")}
    assert changes_of(disabled) == {"enabled": (True, False)}
    assert changes_of(deleted)["name"] == ("Clicks (EU)", None)
    assert changes_of(deleted)["enabled"] == (False, None)


def test_added_and_removed_actions_are_recorded_by_their_id(api: ApiClient) -> None:
    destination = create(api, destination_body("segment"))
    old_action = destination["actions"][0]
    response = api.put(f"{BASE}/{destination['id']}", {"name": "s", "actions": [action_body("send_event", name="New")]})
    assert response.status == 200
    new_action = response.json()["destination"]["actions"][0]

    changes = changes_of(entries(api)[0])
    assert changes[f"actions[{old_action['id']}].name"] == (old_action["name"], None)
    assert changes[f"actions[{new_action['id']}].name"] == (None, "New")


def test_no_secret_appears_in_the_audit_log_or_its_items_in_any_form(api: ApiClient, aws: LocalStack) -> None:
    webhook = VALID_CREDENTIALS["generic_http"]
    created = create(api, destination_body("generic_http"))
    url = f"{BASE}/{created['id']}"
    # New secrets whose hints (last 4 characters) equal the old ones: the change must still show.
    rotated = {
        **webhook,
        "headers": {"Authorization": webhook["headers"]["Authorization"].replace("SeCrEt", "RoTaTe")},
        "signing_secret": webhook["signing_secret"].replace("SeCrEt", "RoTaTe"),
    }
    kept_action = {**action_body("send_webhook"), "id": created["actions"][0]["id"]}
    body = {"name": "hook", "credentials": rotated, "actions": [kept_action]}
    assert api.put(url, body).status == 200

    rotation = entries(api)[0]
    header_hint = hint(webhook["headers"]["Authorization"])
    assert changes_of(rotation) == {
        "name": ("generic_http destination", "hook"),
        "credentials.headers.Authorization": (header_hint, header_hint),
        "credentials.signing_secret": (hint(webhook["signing_secret"]), hint(rotated["signing_secret"])),
    }

    secrets = [
        webhook["headers"]["Authorization"],
        webhook["signing_secret"],
        rotated["headers"]["Authorization"],
        rotated["signing_secret"],
    ]
    listed = json.dumps(audit_log(api))
    stored = json.dumps(stored_audit_items(aws, "ws_dev"))
    for form in {encode(secret)[1] for encode in ENCODINGS.values() for secret in secrets}:
        assert form not in listed and form not in stored, form


def test_an_unchanged_update_records_no_changes_and_credentials_left_out_are_not_a_change(api: ApiClient) -> None:
    destination = create(api, destination_body("segment"))
    body = {
        "name": destination["name"],
        "actions": [{**action_body("send_event"), "id": destination["actions"][0]["id"]}],
    }
    assert api.put(f"{BASE}/{destination['id']}", body).status == 200

    latest = entries(api)[0]
    assert latest["action"] == "destination.updated" and latest["changes"] == []


def test_another_workspace_never_sees_the_entries(api: ApiClient, other_api: ApiClient) -> None:
    create(api, destination_body("segment"))
    create(other_api, destination_body("amplitude"))

    (own,) = entries(api)
    (other,) = entries(other_api)
    assert own["id"] != other["id"]
    assert changes_of(own)["type"] == (None, "segment")
    assert changes_of(other)["type"] == (None, "amplitude")


def test_pages_follow_the_cursor_and_a_cursor_of_another_workspace_is_refused(
    api: ApiClient, other_api: ApiClient
) -> None:
    names = ["first", "second", "third"]
    for name in names:
        create(api, destination_body("segment", name=name))

    first_page = audit_log(api, "limit=2")
    assert [changes_of(e)["name"][1] for e in first_page["audit_log"]] == ["third", "second"]
    second_page = audit_log(api, f"limit=2&cursor={first_page['next_cursor']}")
    assert [changes_of(e)["name"][1] for e in second_page["audit_log"]] == ["first"]
    assert second_page["next_cursor"] is None

    refused = other_api.get(f"{AUDIT}?cursor={first_page['next_cursor']}")
    assert refused.status == 400 and refused.json()["error"]["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_an_invalid_limit_is_a_422(api: ApiClient, limit: str) -> None:
    assert api.get(f"{AUDIT}?limit={limit}").status == 422


def test_a_change_is_not_made_when_its_audit_entry_cannot_be_written(
    api: ApiClient, aws: LocalStack, faults: FaultInjector
) -> None:
    destination = create(api, destination_body("segment", name="kept"))
    audit_writes = faults.fail(
        "dynamodb", "PutItem", fault=Fault.SERVER_ERROR, where=lambda p: p["Item"]["PK"]["S"].startswith("AUDIT#")
    )

    assert api.post(BASE, destination_body("segment", name="never")).status == 500
    assert api.delete(f"{BASE}/{destination['id']}").status == 500
    faults.remove(audit_writes)

    listed = api.get(BASE).json()["destinations"]
    assert [d["name"] for d in listed] == ["kept"]
    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [s["Name"] for s in secrets if s["Name"].startswith("nimriz-destinations/")] == [
        f"nimriz-destinations/local/ws_dev/{destination['id']}"
    ]
    assert [e["action"] for e in entries(api)] == ["destination.created"]


def test_a_change_that_fails_after_its_audit_entry_was_written_leaves_no_entry(
    api: ApiClient, faults: FaultInjector
) -> None:
    destination = create(api, destination_body("segment", name="kept"))
    faults.fail("dynamodb", "UpdateItem", fault=Fault.SERVER_ERROR)

    body = {"name": "renamed", "actions": [action_body("send_event")]}
    assert api.put(f"{BASE}/{destination['id']}", body).status == 500

    assert [e["action"] for e in entries(api)] == ["destination.created"]
    assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["name"] == "kept"
