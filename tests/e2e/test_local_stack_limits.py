"""Per-workspace request limits end to end on the local stack (issue 19 item 2, design §9.6): a workspace whose
limit an admin lowered gets 429 RATE_LIMITED with Retry-After when it sends over it, while another workspace
sending at the same time is unaffected."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import E2E_ADMIN_TOKEN, RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
LIST = "/api/integrations/destinations"
REQUESTS_EACH = 40
LIMITED = {"requests_per_second": 2, "burst": 4}


def make_key(stack: RunningStack, workspace: str) -> str:
    body = {"label": "limits e2e", "scopes": ["destinations:read"], "organization_id": "org_e2e"}
    with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {E2E_ADMIN_TOKEN}"}) as admin:
        response = admin.post(f"/admin/workspaces/{workspace}/api-keys", json=body)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


def send(stack: RunningStack, secret: str) -> list[httpx.Response]:
    """REQUESTS_EACH requests, four at a time, as fast as the stack answers."""
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as api, ThreadPoolExecutor(4) as senders:
        return list(senders.map(lambda _: api.get(LIST), range(REQUESTS_EACH)))


def test_a_workspace_over_its_limit_is_throttled_and_another_sending_at_the_same_time_is_not(
    local_stack: RunningStack,
) -> None:
    limited_key, other_key = make_key(local_stack, "ws_e2e_limited"), make_key(local_stack, "ws_e2e_unlimited")
    with httpx.Client(base_url=local_stack.base_url, headers={"Authorization": f"Bearer {E2E_ADMIN_TOKEN}"}) as admin:
        response = admin.put("/admin/workspaces/ws_e2e_limited/limits", json=LIMITED)
    assert response.status_code == 200, response.text
    assert response.json() == {"limits": LIMITED}

    # One request first, alone: the stand-in loads a function's module on its first call, which concurrent first
    # calls would race (a 502 that says nothing of limits).
    with httpx.Client(base_url=local_stack.base_url, headers={"Authorization": f"Bearer {other_key}"}) as api:
        assert api.get(LIST).status_code == 200

    with ThreadPoolExecutor(max_workers=2) as workspaces:
        limited_run = workspaces.submit(send, local_stack, limited_key)
        other_run = workspaces.submit(send, local_stack, other_key)
        limited, other = limited_run.result(), other_run.result()

    limited_statuses, other_statuses = Counter(r.status_code for r in limited), Counter(r.status_code for r in other)
    print(f"\nlimited workspace (2 rps, burst 4): {REQUESTS_EACH} sent, {dict(limited_statuses)}")
    print(f"other workspace (defaults): {REQUESTS_EACH} sent, {dict(other_statuses)}")
    assert set(limited_statuses) == {200, 429}
    assert limited_statuses[200] >= LIMITED["burst"]
    for refused in (r for r in limited if r.status_code == 429):
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert other_statuses == Counter({200: REQUESTS_EACH})
