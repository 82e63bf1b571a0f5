"""Workspace API keys end to end on the local stack: made through the admin API (the admin token standing in for
AWS_IAM), used on the workspace API, limited by scope, revoked and rotated (AUTH_CACHE_SECONDS is 1 s there)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import E2E_ADMIN_TOKEN, E2E_DEV_KEY, RunningStack
from tests.factories import destination_body

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
BASE = "/api/integrations/destinations"
KEYS = "/admin/workspaces/ws_e2e_keys/api-keys"


def client(stack: RunningStack, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=stack.base_url, headers=headers, timeout=10)


def create_key(stack: RunningStack, **fields: Any) -> dict[str, Any]:
    body = {"label": "e2e", "scopes": ["destinations:read", "destinations:write"], "organization_id": "org_e2e"}
    with client(stack, E2E_ADMIN_TOKEN) as admin:
        response = admin.post(KEYS, json={**body, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def status_with(stack: RunningStack, secret: str) -> int:
    with client(stack, secret) as api:
        return api.get(BASE).status_code


def eventually(condition: Callable[[], bool], seconds: float = 20) -> bool:
    """Whether `condition` holds within `seconds` (AUTH_CACHE_SECONDS and the overlap are a few seconds locally)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def test_the_banner_prints_the_admin_token(local_stack: RunningStack) -> None:
    assert E2E_ADMIN_TOKEN in local_stack.log()


def test_a_key_made_through_the_admin_api_works_on_its_workspace(local_stack: RunningStack) -> None:
    created = create_key(local_stack)
    assert created["secret"].startswith("nmz_") and created["api_key"]["last_used_at"] is None
    with client(local_stack, created["secret"]) as api:
        made = api.post(BASE, json=destination_body("segment"))
        assert made.status_code == 201, made.text
        assert made.json()["destination"]["workspace_id"] == "ws_e2e_keys"
        assert api.get(f"{BASE}/{made.json()['destination']['id']}").status_code == 200
    with client(local_stack, E2E_ADMIN_TOKEN) as admin:
        keys = admin.get(KEYS).json()["api_keys"]
    (listed,) = [key for key in keys if key["id"] == created["api_key"]["id"]]
    assert listed["last_used_at"] is not None and "secret" not in listed


def test_a_read_only_key_gets_403_on_post(local_stack: RunningStack) -> None:
    created = create_key(local_stack, scopes=["destinations:read"])
    with client(local_stack, created["secret"]) as api:
        assert api.get(BASE).status_code == 200
        refused = api.post(BASE, json=destination_body("segment"))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"


def test_a_revoked_key_stops_working(local_stack: RunningStack) -> None:
    created = create_key(local_stack)
    assert status_with(local_stack, created["secret"]) == 200
    with client(local_stack, E2E_ADMIN_TOKEN) as admin:
        assert admin.delete(f"{KEYS}/{created['api_key']['id']}").status_code == 204
    assert eventually(lambda: status_with(local_stack, created["secret"]) == 401)


def test_a_rotated_key_works_for_the_overlap_then_stops(local_stack: RunningStack) -> None:
    old = create_key(local_stack)
    with client(local_stack, E2E_ADMIN_TOKEN) as admin:
        rotated = admin.post(f"{KEYS}/{old['api_key']['id']}/rotate", json={"overlap_seconds": 5})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert status_with(local_stack, new["secret"]) == 200
    assert status_with(local_stack, old["secret"]) == 200  # within the overlap
    assert eventually(lambda: status_with(local_stack, old["secret"]) == 401)
    assert status_with(local_stack, new["secret"]) == 200


def test_admin_routes_refuse_workspace_keys_and_missing_credentials(local_stack: RunningStack) -> None:
    for token in (None, E2E_DEV_KEY, "not-the-admin-token"):
        with client(local_stack, token) as caller:
            response = caller.get(KEYS)
        assert response.status_code == 403, token
        assert response.json()["error"]["code"] == "FORBIDDEN"


def test_a_retried_rotation_gets_the_first_answer_and_a_second_rotation_is_refused(local_stack: RunningStack) -> None:
    old = create_key(local_stack)
    rotate = f"{KEYS}/{old['api_key']['id']}/rotate"
    with client(local_stack, E2E_ADMIN_TOKEN) as admin:
        first = admin.post(rotate, json={"overlap_seconds": 60}, headers={"Idempotency-Key": "e2e-rotate-1"})
        retried = admin.post(rotate, json={"overlap_seconds": 60}, headers={"Idempotency-Key": "e2e-rotate-1"})
        again = admin.post(rotate, json={"overlap_seconds": 60})
    assert first.status_code == 201, first.text
    assert (retried.status_code, retried.json()) == (201, first.json())
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert again.status_code == 409 and again.json()["error"]["code"] == "API_KEY_ROTATING"
    assert status_with(local_stack, retried.json()["secret"]) == 200


def test_a_scope_added_by_patch_applies_within_the_auth_cache(local_stack: RunningStack) -> None:
    created = create_key(local_stack, scopes=["destinations:read"])
    with client(local_stack, created["secret"]) as api:
        assert api.post(BASE, json=destination_body("segment")).status_code == 403
        with client(local_stack, E2E_ADMIN_TOKEN) as admin:
            body = {"scopes": ["destinations:read", "destinations:write"]}
            patched = admin.patch(
                f"{KEYS}/{created['api_key']['id']}",
                content=json.dumps(body),
                headers={"Content-Type": "application/merge-patch+json"},
            )
        assert patched.status_code == 200, patched.text
        assert eventually(lambda: api.post(BASE, json=destination_body("segment")).status_code == 201)
