"""Idempotency-Key on the local stack over sockets (design §9.7): a retried create returns the same destination, its
generated signing secret included, and makes it once."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import E2E_OTHER_KEY, RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
BASE = "/api/integrations/destinations"


def test_an_idempotent_create_retried_returns_the_same_destination_made_once(local_stack: RunningStack) -> None:
    name = f"Retried {uuid.uuid4()}"
    body = {
        "name": name,
        "type": "generic_http",
        "credentials": {"url": "https://hooks.example.com/retried"},
        "actions": [{"name": "Everything", "action_type": "send_webhook"}],
    }
    key = {"Idempotency-Key": f"e2e-create-{uuid.uuid4()}"}
    headers = {"Authorization": f"Bearer {E2E_OTHER_KEY}"}
    with httpx.Client(base_url=local_stack.base_url, headers=headers, timeout=10) as api:
        first = api.post(BASE, json=body, headers=key)
        retried = api.post(BASE, json=body, headers=key)
        other_body = api.post(BASE, json={**body, "name": "Another"}, headers=key)
        made = [d for d in api.get(f"{BASE}?limit=100").json()["destinations"] if d["name"] == name]
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert (retried.status_code, retried.json()) == (201, first.json())
    assert retried.headers["Idempotent-Replayed"] == "true" and retried.headers["ETag"] == first.headers["ETag"]
    assert retried.json()["destination"]["credentials"]["signing_secret"].startswith("whsec_")
    assert other_body.status_code == 422 and other_body.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert [d["id"] for d in made] == [first.json()["destination"]["id"]]
