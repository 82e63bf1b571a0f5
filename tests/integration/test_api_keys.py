"""Workspace API keys (issue 12 §1, a fixed contract): the admin API through the API Gateway stand-in (AWS_IAM
emulated with the admin token), and what the keys it makes may do on the workspace API."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.observability import logger
from nimriz_destinations.scopes import ALL_SCOPES
from nimriz_destinations.storage.api_keys import ApiKeyStore, hash_api_key
from tests.conftest import ADMIN_TOKEN, DEV_KEY, ApiClient, ApiResponse
from tests.factories import destination_body
from tests.faults import FaultInjector
from tests.local.apigw import ACCOUNT_ID, IAM, LOCAL_ADMIN_ARN, routes
from tests.local.seed import DEV_WORKSPACE
from tests.local.template import LocalStack

ADMIN = "/admin/workspaces"
KEYS = f"{ADMIN}/ws_dev/api-keys"
BASE = "/api/integrations/destinations"
KEY_FIELDS = {"id", "label", "scopes", "prefix", "created_at", "expires_at", "last_used_at"}
SOME_ID = "3f1c2b7a-9d4e-4c1a-8f6b-2a5d7e9c0b11"

# The scope each workspace route needs (README, "Scopes").
ROUTE_SCOPES = {
    ("POST", "/api/integrations/destinations"): "destinations:write",
    ("GET", "/api/integrations/destinations"): "destinations:read",
    ("GET", "/api/integrations/destinations/{id}"): "destinations:read",
    ("PUT", "/api/integrations/destinations/{id}"): "destinations:write",
    ("PATCH", "/api/integrations/destinations/{id}"): "destinations:write",
    ("DELETE", "/api/integrations/destinations/{id}"): "destinations:write",
    ("POST", "/api/integrations/destinations/{id}/test-send"): "destinations:write",
    ("POST", "/api/integrations/destinations/{id}/rotate-signing-secret"): "destinations:write",
    ("POST", "/api/integrations/destinations/{id}/preview"): "destinations:read",
    ("POST", "/api/integrations/destinations/preview"): "destinations:read",
    ("GET", "/api/integrations/destinations/{id}/deliveries"): "destinations:read",
    ("GET", "/api/integrations/destinations/{id}/deliveries/{delivery_id}"): "destinations:read",
    ("GET", "/api/integrations/destinations/{id}/dead-letters"): "destinations:read",
    ("POST", "/api/integrations/destinations/{id}/dead-letters/replay"): "deliveries:replay",
    ("POST", "/api/integrations/destinations/{id}/pause"): "destinations:write",
    ("POST", "/api/integrations/destinations/{id}/resume"): "destinations:write",
    ("POST", "/api/integrations/destinations/{id}/recover"): "deliveries:replay",
    ("GET", "/api/integrations/parked-events"): "destinations:read",
    ("POST", "/api/integrations/parked-events/recover"): "deliveries:replay",
    ("GET", "/api/integrations/audit-log"): "destinations:read",
    ("GET", "/api/integrations/destinations/{id}/metrics"): "destinations:read",
    ("GET", "/api/integrations/destinations/{id}/estimate"): "destinations:read",
    ("POST", "/api/integrations/interstitial/resolve"): "interstitial:resolve",
}


@pytest.fixture(autouse=True)
def no_auth_cache(aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every request looks the key up again, as the first request after AUTH_CACHE_SECONDS would.
    monkeypatch.setenv("AUTH_CACHE_SECONDS", "0")
    runtime.reset()


def organization_of(workspace: str) -> str:
    """The organization the seeded keys give a workspace (tests/local/seed.py); any other for a new one."""
    return DEV_WORKSPACE.organization_id if workspace == DEV_WORKSPACE.workspace_id else f"org_{workspace}"


def create_key(admin_api: ApiClient, workspace: str = "ws_dev", **fields: Any) -> dict[str, Any]:
    body = {"label": "Zapier", "scopes": list(ALL_SCOPES), "organization_id": organization_of(workspace), **fields}
    response = admin_api.post(f"{ADMIN}/{workspace}/api-keys", body)
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def as_key(api: ApiClient, secret: str) -> ApiClient:
    return ApiClient(api.gateway, secret)


def error_of(response: ApiResponse) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "support_reference", "details"}
    return error


def listed(admin_api: ApiClient, workspace: str = "ws_dev") -> dict[str, dict[str, Any]]:
    response = admin_api.get(f"{ADMIN}/{workspace}/api-keys")
    assert response.status == 200, response.text
    return {key["id"]: key for key in response.json()["api_keys"]}


def table_dump(aws: LocalStack) -> str:
    items = boto3.client("dynamodb").scan(TableName=aws.tables["DestinationsTable"])["Items"]
    return json.dumps(items, default=lambda binary: base64.b64encode(binary).decode())


class TestCreate:
    def test_create_answers_201_with_the_key_and_its_secret_once(self, admin_api: ApiClient) -> None:
        response = admin_api.post(
            KEYS,
            {"label": "Zapier", "scopes": ["destinations:write", "destinations:read"], "organization_id": "org_dev"},
        )
        assert response.status == 201, response.text
        body = response.json()
        assert set(body) == {"api_key", "secret"}
        key, secret = body["api_key"], body["secret"]
        assert set(key) == KEY_FIELDS
        assert uuid.UUID(key["id"]).version == 4
        assert key["label"] == "Zapier"
        assert key["scopes"] == ["destinations:read", "destinations:write"]
        assert key["expires_at"] is None and key["last_used_at"] is None
        assert secret.startswith("nmz_")
        assert len(base64.urlsafe_b64decode(secret.removeprefix("nmz_") + "=")) >= 32
        assert key["prefix"] == secret[:8] and len(key["prefix"]) < len(secret) // 4

    def test_a_created_key_works_on_its_workspace_only(self, api: ApiClient, admin_api: ApiClient) -> None:
        other_destination = ApiClient(api.gateway, DEV_KEY).post(BASE, destination_body("segment")).json()
        secret = create_key(admin_api, "ws_new")["secret"]
        new_workspace = as_key(api, secret)
        created = new_workspace.post(BASE, destination_body("segment"))
        assert created.status == 201, created.text
        assert created.json()["destination"]["workspace_id"] == "ws_new"
        assert new_workspace.get(f"{BASE}/{other_destination['destination']['id']}").status == 404

    def test_the_secret_is_stored_only_as_its_hash(self, aws: LocalStack, admin_api: ApiClient) -> None:
        secret = create_key(admin_api)["secret"]
        random_part = secret.removeprefix("nmz_")
        dump = table_dump(aws)
        assert hash_api_key(secret) in dump
        for form in (random_part, base64.b64encode(secret.encode()).decode(), random_part[8:24]):
            assert form not in dump

    def test_an_expiry_in_the_future_is_kept(self, admin_api: ApiClient) -> None:
        expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
        key = create_key(admin_api, expires_at=expires.isoformat())["api_key"]
        assert key["expires_at"] == expires.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @pytest.mark.parametrize(
        ("fields", "path"),
        [
            ({"scopes": ["destinations:admin"]}, "scopes[0]"),
            ({"scopes": []}, "scopes"),
            ({"scopes": "destinations:read"}, "scopes"),
            ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
            ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),
            ({"expires_at": "2099-01-01"}, "expires_at"),
            ({"expires_at": 4102444800}, "expires_at"),
            ({"label": "bad\u202elabel"}, "label"),
            ({"label": "   "}, "label"),
            ({"organization_id": "org/../x"}, "organization_id"),
            ({"surprise": True}, "surprise"),
        ],
    )
    def test_invalid_fields_answer_422_with_their_path(
        self, admin_api: ApiClient, fields: dict[str, Any], path: str
    ) -> None:
        body = {"label": "Zapier", "scopes": ["destinations:read"], "organization_id": "org_dev", **fields}
        response = admin_api.post(KEYS, body)
        assert response.status == 422, response.text
        error = error_of(response)
        assert error["code"] == "VALIDATION_FAILED"
        assert [detail["path"] for detail in error["details"]] == [path]

    def test_a_missing_field_is_reported(self, admin_api: ApiClient) -> None:
        response = admin_api.post(KEYS, {"label": "Zapier", "scopes": ["destinations:read"]})
        assert response.status == 422
        assert error_of(response)["details"] == [{"path": "organization_id", "reason": "field required"}]

    def test_an_invalid_workspace_id_answers_422(self, admin_api: ApiClient) -> None:
        response = admin_api.post(
            f"{ADMIN}/ws%23x/api-keys", {"label": "x", "scopes": ["destinations:read"], "organization_id": "o"}
        )
        assert response.status == 422, response.text


class TestList:
    def test_lists_the_workspaces_keys_newest_first_without_secrets(self, api: ApiClient, admin_api: ApiClient) -> None:
        first = create_key(admin_api, label="first")
        second = create_key(admin_api, label="second")
        create_key(admin_api, "ws_other", label="elsewhere")
        response = admin_api.get(KEYS)
        assert response.status == 200
        assert set(response.json()) == {"api_keys"}
        keys = response.json()["api_keys"]
        assert [key["label"] for key in keys][:2] == ["second", "first"]
        assert "elsewhere" not in [key["label"] for key in keys]
        assert "local dev key" in [key["label"] for key in keys]  # the seeded dev key
        for key in keys:
            assert set(key) == KEY_FIELDS
        for secret in (first["secret"], second["secret"], DEV_KEY, hash_api_key(second["secret"])):
            assert secret not in response.text

    def test_dev_seeded_keys_have_every_scope(self, admin_api: ApiClient) -> None:
        (dev_key,) = [key for key in listed(admin_api).values() if key["label"] == "local dev key"]
        assert dev_key["scopes"] == list(ALL_SCOPES)

    def test_an_unknown_workspace_has_no_keys(self, admin_api: ApiClient) -> None:
        assert admin_api.get(f"{ADMIN}/ws_nobody/api-keys").json() == {"api_keys": []}


class TestLastUsed:
    def test_using_a_key_records_when_it_was_last_used(self, api: ApiClient, admin_api: ApiClient) -> None:
        created = create_key(admin_api)
        before = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert as_key(api, created["secret"]).get(BASE).status == 200
        last_used = listed(admin_api)[created["api_key"]["id"]]["last_used_at"]
        assert last_used is not None and last_used >= before

    def test_last_used_is_written_at_most_once_a_minute_across_environments(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        created = create_key(admin_api)
        client = as_key(api, created["secret"])
        assert client.get(BASE).status == 200
        first = listed(admin_api)[created["api_key"]["id"]]["last_used_at"]
        runtime.reset()  # a fresh authorizer environment: only the stored condition holds the write back
        assert client.get(BASE).status == 200
        assert listed(admin_api)[created["api_key"]["id"]]["last_used_at"] == first

    def test_a_failure_to_record_the_use_never_fails_the_request(
        self, api: ApiClient, admin_api: ApiClient, faults: FaultInjector
    ) -> None:
        created = create_key(admin_api)
        faults.fail("dynamodb", "UpdateItem")
        assert as_key(api, created["secret"]).get(BASE).status == 200
        assert faults.injected["dynamodb.UpdateItem"] > 0
        assert listed(admin_api)[created["api_key"]["id"]]["last_used_at"] is None


class TestScopes:
    def test_every_workspace_route_is_in_the_scope_table(self) -> None:
        workspace_routes = {(r.method, r.resource) for r in routes() if r.authorizer not in (None, IAM)}
        assert workspace_routes == set(ROUTE_SCOPES)

    @pytest.mark.parametrize(("method", "resource"), sorted(ROUTE_SCOPES))
    def test_a_key_without_the_routes_scope_gets_403_insufficient_scope(
        self, api: ApiClient, admin_api: ApiClient, method: str, resource: str
    ) -> None:
        needed = ROUTE_SCOPES[(method, resource)]
        others = [scope for scope in ALL_SCOPES if scope != needed]
        client = as_key(api, create_key(admin_api, scopes=others)["secret"])
        path = resource.replace("{id}", SOME_ID).replace("{delivery_id}", SOME_ID)
        response = client.request(method, path, {})
        assert response.status == 403, response.text
        error = error_of(response)
        assert error["code"] == "INSUFFICIENT_SCOPE" and needed in error["message"]
        # With the scope, the same request gets past the check (to the route's own answer).
        allowed = as_key(api, create_key(admin_api, scopes=[needed])["secret"]).request(method, path, {})
        assert allowed.status != 403, allowed.text

    def test_a_read_only_key_reads_but_cannot_write(self, api: ApiClient, admin_api: ApiClient) -> None:
        read_only = as_key(api, create_key(admin_api, scopes=["destinations:read"])["secret"])
        assert read_only.get(BASE).status == 200
        refused = read_only.post(BASE, destination_body("segment"))
        assert refused.status == 403
        assert error_of(refused)["code"] == "INSUFFICIENT_SCOPE"
        assert ApiClient(api.gateway, DEV_KEY).get(BASE).json()["destinations"] == []

    def test_a_key_stored_before_scopes_existed_keeps_every_scope(self, aws: LocalStack, api: ApiClient) -> None:
        legacy_secret = "nim_legacy_key_0123456789abcdef0123"
        boto3.client("dynamodb").put_item(
            TableName=aws.tables["DestinationsTable"],
            Item={
                "PK": {"S": f"APIKEY#{hash_api_key(legacy_secret)}"},
                "SK": {"S": "APIKEY"},
                "entity": {"S": "api_key"},
                "workspace_id": {"S": "ws_dev"},
                "organization_id": {"S": "org_dev"},
                "label": {"S": "old key"},
            },
        )
        legacy = as_key(api, legacy_secret)
        assert legacy.post(BASE, destination_body("segment")).status == 201
        assert legacy.get(BASE).status == 200


class TestRevoke:
    def test_a_revoked_key_stops_working_and_leaves_the_list(self, api: ApiClient, admin_api: ApiClient) -> None:
        created = create_key(admin_api)
        client = as_key(api, created["secret"])
        assert client.get(BASE).status == 200
        response = admin_api.delete(f"{KEYS}/{created['api_key']['id']}")
        assert response.status == 204 and response.text == ""
        refused = client.get(BASE)
        assert refused.status == 401 and error_of(refused)["code"] == "UNAUTHORIZED"
        assert created["api_key"]["id"] not in listed(admin_api)
        assert ApiClient(api.gateway, DEV_KEY).get(BASE).status == 200

    def test_a_revoked_key_works_until_its_cached_lookup_expires(self, aws: LocalStack, admin_api: ApiClient) -> None:
        now = [0.0]
        store = ApiKeyStore(aws.tables["DestinationsTable"], cache_seconds=60, clock=lambda: now[0])
        created = create_key(admin_api)
        assert store.lookup(created["secret"]) is not None
        assert admin_api.delete(f"{KEYS}/{created['api_key']['id']}").status == 204
        now[0] = 59.9
        assert store.lookup(created["secret"]) is not None
        now[0] = 60.1
        assert store.lookup(created["secret"]) is None

    def test_revoking_twice_or_an_unknown_key_answers_404(self, admin_api: ApiClient) -> None:
        key_id = create_key(admin_api)["api_key"]["id"]
        assert admin_api.delete(f"{KEYS}/{key_id}").status == 204
        for path in (f"{KEYS}/{key_id}", f"{KEYS}/{uuid.uuid4()}", f"{KEYS}/not-a-uuid"):
            response = admin_api.delete(path)
            assert response.status == 404, path
            assert error_of(response)["code"] == "API_KEY_NOT_FOUND"

    def test_a_key_of_another_workspace_cannot_be_revoked_through_this_one(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        other = create_key(admin_api, "ws_other")
        assert admin_api.delete(f"{KEYS}/{other['api_key']['id']}").status == 404
        assert as_key(api, other["secret"]).get(BASE).status == 200


class TestRotate:
    def test_rotate_answers_201_with_a_new_key_like_the_old_one(self, api: ApiClient, admin_api: ApiClient) -> None:
        old = create_key(admin_api, label="CI", scopes=["destinations:read"])
        response = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 3600})
        assert response.status == 201, response.text
        new = response.json()
        assert set(new) == {"api_key", "secret"} and set(new["api_key"]) == KEY_FIELDS
        assert new["api_key"]["id"] != old["api_key"]["id"] and new["secret"] != old["secret"]
        assert new["api_key"]["label"] == "CI" and new["api_key"]["scopes"] == ["destinations:read"]
        assert new["secret"].startswith("nmz_") and new["api_key"]["prefix"] == new["secret"][:8]
        assert as_key(api, new["secret"]).get(BASE).status == 200

    def test_the_old_key_keeps_working_for_the_overlap(self, api: ApiClient, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        before = datetime.now(UTC)
        assert admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 3600}).status == 201
        assert as_key(api, old["secret"]).get(BASE).status == 200
        expires_at = datetime.fromisoformat(listed(admin_api)[old["api_key"]["id"]]["expires_at"])
        assert before + timedelta(seconds=3600) <= expires_at <= datetime.now(UTC) + timedelta(seconds=3600)

    def test_with_no_overlap_the_old_key_stops_at_once(self, api: ApiClient, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        new = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 0}).json()
        assert as_key(api, old["secret"]).get(BASE).status == 401
        assert as_key(api, new["secret"]).get(BASE).status == 200

    def test_the_overlap_never_extends_the_old_keys_own_expiry(self, admin_api: ApiClient) -> None:
        expires = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        old = create_key(admin_api, expires_at=expires.isoformat())
        assert admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 86400}).status == 201
        expected = expires.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert listed(admin_api)[old["api_key"]["id"]]["expires_at"] == expected

    def test_the_new_key_never_inherits_the_old_keys_expiry(self, api: ApiClient, admin_api: ApiClient) -> None:
        soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        old = create_key(admin_api, expires_at=soon.isoformat())
        new = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 60}).json()
        assert new["api_key"]["expires_at"] is None
        assert listed(admin_api)[new["api_key"]["id"]]["expires_at"] is None

    def test_the_new_key_expires_when_the_rotate_says(self, admin_api: ApiClient) -> None:
        later = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
        old = create_key(admin_api)
        response = admin_api.post(
            f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 60, "expires_at": later.isoformat()}
        )
        assert response.status == 201, response.text
        expected = later.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert response.json()["api_key"]["expires_at"] == expected

    def test_a_new_expiry_in_the_past_answers_422(self, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        body = {"overlap_seconds": 60, "expires_at": "2020-01-01T00:00:00Z"}
        response = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", body)
        assert response.status == 422, response.text
        assert [detail["path"] for detail in error_of(response)["details"]] == ["expires_at"]

    def test_rotating_a_key_already_replaced_answers_409_api_key_rotating(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        old = create_key(admin_api)
        first = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 3600})
        assert first.status == 201, first.text
        again = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 3600})
        assert again.status == 409, again.text
        assert error_of(again)["code"] == "API_KEY_ROTATING"
        assert set(listed(admin_api)) >= {old["api_key"]["id"], first.json()["api_key"]["id"]}
        assert len([key for key in listed(admin_api).values() if key["label"] == "Zapier"]) == 2
        # The key that replaced it can itself be rotated.
        newest = admin_api.post(f"{KEYS}/{first.json()['api_key']['id']}/rotate", {"overlap_seconds": 60})
        assert newest.status == 201, newest.text

    def test_an_expired_key_cannot_be_rotated(self, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 0})
        response = admin_api.post(f"{KEYS}/{old['api_key']['id']}/rotate", {"overlap_seconds": 60})
        assert response.status == 409
        assert error_of(response)["code"] == "API_KEY_EXPIRED"

    def test_a_revoked_or_unknown_key_cannot_be_rotated(self, admin_api: ApiClient) -> None:
        key_id = create_key(admin_api)["api_key"]["id"]
        admin_api.delete(f"{KEYS}/{key_id}")
        for path in (f"{KEYS}/{key_id}/rotate", f"{KEYS}/{uuid.uuid4()}/rotate"):
            response = admin_api.post(path, {"overlap_seconds": 60})
            assert response.status == 404 and error_of(response)["code"] == "API_KEY_NOT_FOUND"

    @pytest.mark.parametrize(
        "body",
        [{}, *({"overlap_seconds": value} for value in (-1, 2592001, True, "60", 1.5))],
    )
    def test_overlap_must_be_0_to_30_days_in_whole_seconds(self, admin_api: ApiClient, body: dict[str, Any]) -> None:
        key_id = create_key(admin_api)["api_key"]["id"]
        response = admin_api.post(f"{KEYS}/{key_id}/rotate", body)
        assert response.status == 422, response.text
        assert [detail["path"] for detail in error_of(response)["details"]] == ["overlap_seconds"]

    def test_thirty_days_of_overlap_is_accepted(self, admin_api: ApiClient) -> None:
        key_id = create_key(admin_api)["api_key"]["id"]
        assert admin_api.post(f"{KEYS}/{key_id}/rotate", {"overlap_seconds": 2592000}).status == 201


def rotate(admin_api: ApiClient, key_id: str, body: dict[str, Any], idempotency_key: str | None) -> ApiResponse:
    headers = {"idempotency-key": idempotency_key} if idempotency_key is not None else {}
    return admin_api.post(f"{KEYS}/{key_id}/rotate", body, headers=headers)


class TestIdempotentRotate:
    def test_a_rotate_retried_with_the_same_idempotency_key_gets_the_first_answer_again(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        old = create_key(admin_api)
        first = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 3600}, "rotate-zapier-1")
        assert first.status == 201, first.text
        assert first.header("Idempotent-Replayed") is None
        again = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 3600}, "rotate-zapier-1")
        assert (again.status, again.json()) == (201, first.json())
        assert again.header("Idempotent-Replayed") == "true"
        assert as_key(api, again.json()["secret"]).get(BASE).status == 200
        labelled = [key for key in listed(admin_api).values() if key["label"] == "Zapier"]
        assert len(labelled) == 2, "the retry must not make a third key"

    def test_the_same_idempotency_key_with_another_body_answers_422(self, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        assert rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 3600}, "k1").status == 201
        response = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 60}, "k1")
        assert response.status == 422, response.text
        assert error_of(response)["code"] == "IDEMPOTENCY_KEY_REUSED"

    def test_the_same_idempotency_key_on_another_key_answers_422(self, admin_api: ApiClient) -> None:
        first, second = create_key(admin_api), create_key(admin_api)
        assert rotate(admin_api, first["api_key"]["id"], {"overlap_seconds": 60}, "k1").status == 201
        response = rotate(admin_api, second["api_key"]["id"], {"overlap_seconds": 60}, "k1")
        assert response.status == 422 and error_of(response)["code"] == "IDEMPOTENCY_KEY_REUSED"

    def test_idempotency_keys_belong_to_one_workspace(self, admin_api: ApiClient) -> None:
        here, there = create_key(admin_api), create_key(admin_api, "ws_other")
        assert rotate(admin_api, here["api_key"]["id"], {"overlap_seconds": 60}, "shared").status == 201
        response = admin_api.post(
            f"{ADMIN}/ws_other/api-keys/{there['api_key']['id']}/rotate",
            {"overlap_seconds": 60},
            headers={"idempotency-key": "shared"},
        )
        assert response.status == 201 and response.header("Idempotent-Replayed") is None

    def test_a_rotate_that_failed_can_be_retried_with_its_idempotency_key(self, admin_api: ApiClient) -> None:
        missing = rotate(admin_api, str(uuid.uuid4()), {"overlap_seconds": 60}, "k-after-404")
        assert missing.status == 404
        old = create_key(admin_api)
        assert rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 60}, "k-other").status == 201

    def test_the_secret_of_an_idempotent_answer_is_never_stored(self, aws: LocalStack, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        secret = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 60}, "k-stored").json()["secret"]
        dump = table_dump(aws)
        for form in (secret, secret.removeprefix("nmz_"), secret.removeprefix("nmz_")[8:24]):
            assert form not in dump

    def test_a_rotation_whose_answer_was_never_recorded_is_answered_again_once_its_lease_ends(
        self, aws: LocalStack, api: ApiClient, admin_api: ApiClient, faults: FaultInjector
    ) -> None:
        old = create_key(admin_api)
        recording = faults.fail("dynamodb", "UpdateItem", where=lambda params: ":answer" in str(params))
        first = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 3600}, "k-unrecorded")
        assert first.status == 201, first.text
        faults.remove(recording)
        busy = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 3600}, "k-unrecorded")
        assert busy.status == 409 and error_of(busy)["code"] == "IDEMPOTENCY_KEY_IN_USE"
        table = boto3.client("dynamodb")
        (record,) = [
            item
            for item in table.scan(TableName=aws.tables["DestinationsTable"])["Items"]
            if item["PK"]["S"].startswith("IDEM#WS#ws_dev#")
        ]
        table.update_item(  # the lease of the request that did the work ends (it died before recording)
            TableName=aws.tables["DestinationsTable"],
            Key={"PK": record["PK"], "SK": record["SK"]},
            UpdateExpression="SET lease_until = :past",
            ExpressionAttributeValues={":past": {"N": "0"}},
        )
        again = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 3600}, "k-unrecorded")
        assert (again.status, again.json()) == (201, first.json())
        assert as_key(api, again.json()["secret"]).get(BASE).status == 200
        assert len([key for key in listed(admin_api).values() if key["label"] == "Zapier"]) == 2

    @pytest.mark.parametrize("idempotency_key", ["", "x" * 256, "caf\u00e9", "tab\tin"])
    def test_an_idempotency_key_is_1_to_255_printable_ascii_characters(
        self, admin_api: ApiClient, idempotency_key: str
    ) -> None:
        old = create_key(admin_api)
        response = rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 60}, idempotency_key)
        assert response.status == 422, response.text
        assert [detail["path"] for detail in error_of(response)["details"]] == ["header.idempotency-key"]

    def test_the_longest_idempotency_key_is_accepted(self, admin_api: ApiClient) -> None:
        old = create_key(admin_api)
        assert rotate(admin_api, old["api_key"]["id"], {"overlap_seconds": 60}, "~" * 255).status == 201


class TestUpdate:
    def test_patch_changes_the_label_and_answers_the_key_as_the_list_shows_it(self, admin_api: ApiClient) -> None:
        created = create_key(admin_api, label="old name")
        response = admin_api.patch(f"{KEYS}/{created['api_key']['id']}", {"label": "new name"})
        assert response.status == 200, response.text
        assert response.json() == listed(admin_api)[created["api_key"]["id"]]
        assert response.json()["label"] == "new name"
        assert created["secret"] not in response.text

    def test_changed_scopes_apply_to_the_key_on_the_workspace_api(self, api: ApiClient, admin_api: ApiClient) -> None:
        created = create_key(admin_api, scopes=["destinations:read"])
        client = as_key(api, created["secret"])
        assert client.post(BASE, destination_body("segment")).status == 403
        body = {"scopes": ["destinations:write", "destinations:read"]}
        response = admin_api.patch(f"{KEYS}/{created['api_key']['id']}", body)
        assert response.status == 200, response.text
        assert response.json()["scopes"] == ["destinations:read", "destinations:write"]
        assert client.post(BASE, destination_body("segment")).status == 201  # AUTH_CACHE_SECONDS is 0 here

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({"scopes": ["destinations:admin"]}, "scopes[0]"),
            ({"scopes": []}, "scopes"),
            ({"label": "bad\u202elabel"}, "label"),
            ({"label": None}, "body"),
            ({}, "body"),
            ({"expires_at": "2099-01-01T00:00:00Z"}, "expires_at"),
        ],
    )
    def test_invalid_changes_answer_422_as_at_create(
        self, admin_api: ApiClient, body: dict[str, Any], path: str
    ) -> None:
        created = create_key(admin_api)
        response = admin_api.patch(f"{KEYS}/{created['api_key']['id']}", body)
        assert response.status == 422, response.text
        assert [detail["path"] for detail in error_of(response)["details"]] == [path]

    def test_an_unknown_revoked_or_other_workspaces_key_answers_404(self, admin_api: ApiClient) -> None:
        revoked = create_key(admin_api)["api_key"]["id"]
        admin_api.delete(f"{KEYS}/{revoked}")
        elsewhere = create_key(admin_api, "ws_other")["api_key"]["id"]
        for key_id in (revoked, elsewhere, str(uuid.uuid4()), "not-a-uuid"):
            response = admin_api.patch(f"{KEYS}/{key_id}", {"label": "x"})
            assert response.status == 404 and error_of(response)["code"] == "API_KEY_NOT_FOUND", key_id

    def test_a_change_is_audited_with_what_changed(self, api: ApiClient, admin_api: ApiClient) -> None:
        created = create_key(admin_api, label="before", scopes=["destinations:read"])
        body = {"label": "after", "scopes": ["destinations:read"]}
        assert admin_api.patch(f"{KEYS}/{created['api_key']['id']}", body).status == 200
        (entry,) = [
            e for e in api.get("/api/integrations/audit-log").json()["audit_log"] if e["action"] == "api_key.updated"
        ]
        assert entry["target"] == {"type": "api_key", "id": created["api_key"]["id"]}
        assert entry["actor"]["type"] == "admin"
        assert entry["changes"] == [{"path": "label", "before": "before", "after": "after"}]


class TestOrganization:
    def test_a_key_for_a_workspace_of_another_organization_answers_422(self, admin_api: ApiClient) -> None:
        response = admin_api.post(
            KEYS, {"label": "x", "scopes": ["destinations:read"], "organization_id": "org_somebody_else"}
        )
        assert response.status == 422, response.text
        assert error_of(response)["details"][0]["path"] == "organization_id"
        assert "x" not in [key["label"] for key in listed(admin_api).values()]

    def test_a_new_workspace_belongs_to_the_organization_of_its_first_key(self, admin_api: ApiClient) -> None:
        create_key(admin_api, "ws_brand_new", organization_id="org_first")
        second = admin_api.post(
            f"{ADMIN}/ws_brand_new/api-keys",
            {"label": "x", "scopes": ["destinations:read"], "organization_id": "org_second"},
        )
        assert second.status == 422, second.text
        create_key(admin_api, "ws_brand_new", organization_id="org_first")

    def test_a_workspace_whose_keys_predate_the_check_keeps_their_organization(
        self, aws: LocalStack, admin_api: ApiClient
    ) -> None:
        boto3.client("dynamodb").delete_item(
            TableName=aws.tables["DestinationsTable"], Key={"PK": {"S": "WS#ws_dev"}, "SK": {"S": "ORGANIZATION"}}
        )
        refused = admin_api.post(KEYS, {"label": "x", "scopes": ["destinations:read"], "organization_id": "org_x"})
        assert refused.status == 422, refused.text
        create_key(admin_api)


class TestAdminAuth:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", KEYS), ("POST", KEYS), ("DELETE", f"{KEYS}/{SOME_ID}"), ("POST", f"{KEYS}/{SOME_ID}/rotate")],
    )
    @pytest.mark.parametrize("credential", [None, "wrong-token", DEV_KEY])
    def test_admin_routes_refuse_a_missing_or_wrong_credential_and_workspace_keys(
        self, admin_api: ApiClient, method: str, path: str, credential: str | None
    ) -> None:
        response = admin_api.request(method, path, {"overlap_seconds": 1}, key=credential)
        assert response.status == 403, response.text
        assert error_of(response)["code"] == "FORBIDDEN"

    def test_a_workspace_key_in_x_nim_api_key_is_not_an_admin_credential(self, admin_api: ApiClient) -> None:
        response = admin_api.get(KEYS, key=None, headers={"x-nim-api-key": DEV_KEY})
        assert response.status == 403

    def test_the_admin_token_is_not_a_workspace_key(self, api: ApiClient) -> None:
        assert api.get(BASE, key=ADMIN_TOKEN).status == 401


class LogLines:
    """What the functions log (Powertools JSON lines), from the moment the fixture starts."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def read(self) -> list[dict[str, Any]]:
        text = self._stream.getvalue()
        self._stream.seek(0)
        self._stream.truncate()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield LogLines(stream)
    handler.setStream(previous)


class TestKeyIdInLogs:
    def test_every_log_line_of_a_request_carries_the_key_id(
        self, api: ApiClient, admin_api: ApiClient, log_lines: LogLines
    ) -> None:
        writer, reader = create_key(admin_api), create_key(admin_api, scopes=["destinations:read"])
        log_lines.read()
        for key, expected_status in ((writer, 201), (reader, 403)):
            assert as_key(api, key["secret"]).post(BASE, destination_body("segment")).status == expected_status
            lines = log_lines.read()
            assert lines, "the request logged nothing"
            assert {line.get("api_key_id") for line in lines} == {key["api_key"]["id"]}
            assert key["secret"] not in json.dumps(lines)

    def test_the_key_id_does_not_outlive_its_request(
        self, api: ApiClient, admin_api: ApiClient, log_lines: LogLines
    ) -> None:
        created = create_key(admin_api)
        as_key(api, created["secret"]).post(BASE, destination_body("segment"))
        log_lines.read()
        assert (
            admin_api.post(KEYS, {"label": "x", "scopes": ["destinations:read"], "organization_id": "org_dev"}).status
            == 201
        )
        lines = log_lines.read()
        assert lines and all("api_key_id" not in line for line in lines)


class TestAudit:
    def test_admins_appear_in_audit_entries_as_a_stable_opaque_id_and_their_arn_only_in_logs(
        self, api: ApiClient, admin_api: ApiClient, log_lines: LogLines
    ) -> None:
        log_lines.read()
        first, second = create_key(admin_api, label="one"), create_key(admin_api, label="two")
        lines = log_lines.read()

        response = api.get("/api/integrations/audit-log")
        entries = [e for e in response.json()["audit_log"] if e["target"]["type"] == "api_key"]
        assert {e["target"]["id"] for e in entries} == {first["api_key"]["id"], second["api_key"]["id"]}
        actor_ids = {e["actor"]["id"] for e in entries}
        assert len(actor_ids) == 1, "one principal must keep one id"
        (actor_id,) = actor_ids
        assert re.fullmatch(r"adm_[0-9a-f]{24}", actor_id), actor_id
        for revealing in (LOCAL_ADMIN_ARN, ACCOUNT_ID, "nimriz-local-admin", "arn:"):
            assert revealing not in response.text
        # Operators map the id back to the principal from the admin API's own log lines.
        assert lines and all(
            line.get("admin_caller") == LOCAL_ADMIN_ARN and line.get("admin_id") == actor_id for line in lines
        )

    def test_create_revoke_and_rotate_are_in_the_workspace_audit_log_without_secrets(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        created = create_key(admin_api, label="CI deploy", scopes=["destinations:read"])
        rotated = admin_api.post(f"{ADMIN}/ws_dev/api-keys/{created['api_key']['id']}/rotate", {"overlap_seconds": 60})
        assert rotated.status == 201, rotated.text
        new_id = rotated.json()["api_key"]["id"]
        assert admin_api.delete(f"{ADMIN}/ws_dev/api-keys/{new_id}").status == 204

        response = api.get("/api/integrations/audit-log")
        assert response.status == 200, response.text
        entries = [e for e in response.json()["audit_log"] if e["target"]["type"] == "api_key"]
        assert [(e["action"], e["target"]["id"]) for e in entries] == [
            ("api_key.revoked", new_id),
            ("api_key.rotated", created["api_key"]["id"]),
            ("api_key.created", created["api_key"]["id"]),
        ]
        assert all(e["actor"]["type"] == "admin" and e["actor"]["id"] != "unknown" for e in entries), entries
        assert {c["path"] for c in entries[2]["changes"]} == {"label", "scopes", "prefix", "expires_at"}
        assert {"path": "replaced_by", "before": None, "after": new_id} in entries[1]["changes"]
        for secret in (created["secret"], rotated.json()["secret"]):
            assert secret not in response.text and secret[len("nmz_") :][:12] not in response.text
