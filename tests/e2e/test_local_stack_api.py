"""End to end over real HTTP: the local stack `make dev` runs, driven like a customer would."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import E2E_DEV_KEY, E2E_OTHER_KEY, RunningStack
from tests.factories import SEED_CREATE_BODY, action_body, destination_body

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
ROOT = Path(__file__).resolve().parents[2]
BASE = "/api/integrations/destinations"


def client(stack: RunningStack, key: str | None = E2E_DEV_KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=stack.base_url, headers=headers, timeout=10)


def test_health_answers_200_when_ready(local_stack: RunningStack) -> None:
    response = httpx.get(f"{local_stack.base_url}/_local/health")
    assert response.status_code == 200


def test_startup_banner_prints_the_dev_key(local_stack: RunningStack) -> None:
    assert E2E_DEV_KEY in local_stack.log()


def test_every_endpoint_over_http(local_stack: RunningStack) -> None:
    with client(local_stack) as api:
        created = api.post(BASE, json=SEED_CREATE_BODY)
        assert created.status_code == 201, created.text
        destination = created.json()["destination"]
        url = f"{BASE}/{destination['id']}"

        listed = api.get(BASE, params={"limit": 10})
        assert listed.status_code == 200
        assert destination["id"] in [d["id"] for d in listed.json()["destinations"]]

        fetched = api.get(url)
        assert fetched.status_code == 200 and fetched.headers["etag"] == '"v1"'

        update = {"name": "renamed", "actions": [{**action_body("send_event"), "id": destination["actions"][0]["id"]}]}
        updated = api.put(url, json=update, headers={"If-Match": '"v1"'})
        assert updated.status_code == 200, updated.text
        assert updated.json()["destination"]["actions"][0]["id"] == destination["actions"][0]["id"]
        assert api.put(url, json=update, headers={"If-Match": '"v1"'}).status_code == 412

        queued = api.post(f"{url}/test-send", json={})
        assert queued.status_code == 202, queued.text
        assert queued.json()["delivery"]["action_id"] == destination["actions"][0]["id"]

        assert api.delete(url).status_code == 204
        for response in (api.get(url), api.delete(url), api.post(f"{url}/test-send", json={})):
            assert response.status_code == 404


def test_auth_and_workspace_isolation_over_http(local_stack: RunningStack) -> None:
    with client(local_stack) as api, client(local_stack, E2E_OTHER_KEY) as other, client(local_stack, None) as anon:
        destination = api.post(BASE, json=destination_body("ga4")).json()["destination"]
        assert other.get(f"{BASE}/{destination['id']}").status_code == 404
        assert destination["id"] not in [d["id"] for d in other.get(BASE).json()["destinations"]]
        unauthorized = anon.get(BASE)
        assert unauthorized.status_code == 401
        assert unauthorized.json()["error"]["code"] == "UNAUTHORIZED"
        assert anon.get(BASE, headers={"X-Nim-Api-Key": E2E_DEV_KEY}).status_code == 200


def test_validation_errors_over_http(local_stack: RunningStack) -> None:
    with client(local_stack) as api:
        response = api.post(BASE, json={**SEED_CREATE_BODY, "surprise": 1})
        assert response.status_code == 422
        assert response.json()["error"]["details"] == [{"path": "surprise", "reason": "unknown field"}]
        assert api.post(BASE, content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400


def test_swagger_ui_and_openapi_are_served(local_stack: RunningStack) -> None:
    docs = httpx.get(f"{local_stack.base_url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert httpx.get(f"{local_stack.base_url}/_local/swagger/swagger-ui-bundle.min.js").status_code == 200
    spec = httpx.get(f"{local_stack.base_url}/openapi.json").json()
    assert "/api/integrations/destinations" in spec["paths"]


def test_readme_curl_examples_work_verbatim(local_stack: RunningStack, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- curl-examples:start -->\n```bash\n(.*?)```\n<!-- curl-examples:end -->", readme, re.S)
    assert block, "README lost its curl examples"
    script = block.group(1).replace("http://127.0.0.1:3000", local_stack.base_url)
    script_path = tmp_path / "examples.sh"
    script_path.write_text("set -euo pipefail\n" + script.replace("curl -sS", "curl -sS --fail-with-body"))
    result = subprocess.run(["bash", str(script_path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status":"queued"' in result.stdout.replace(" ", "")
    assert '"filter":"matched"' in result.stdout.replace(" ", "")  # the validate-mode test-send
    assert '"status":"not_available"' in result.stdout.replace(" ", "")
    assert "HTTP/1.1 204" in result.stdout
    assert "idempotent-replayed: true" in result.stdout.lower()  # the retried create
    created = json.loads(Path("/tmp/nimriz-destination.json").read_text())
    assert created["destination"]["credentials"]["write_key"] == "…cdef"


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "TRACE", "CONNECT", "PROPFIND"])
@pytest.mark.parametrize("path", [BASE, f"{BASE}/0b7c3a52-8d4e-4f0a-9a71-3f2d5c6e7a8b", "/no/such/route"])
def test_methods_without_a_route_answer_like_api_gateway_not_http_server(
    local_stack: RunningStack, method: str, path: str
) -> None:
    with client(local_stack) as api:
        response = api.request(method, path)
    assert response.status_code == 404  # the template's MISSING_AUTHENTICATION_TOKEN gateway response
    assert response.headers["content-type"] == "application/json"
    if method == "HEAD":
        assert response.content == b""
    else:
        assert response.json()["error"]["code"] == "ROUTE_NOT_FOUND"


@pytest.mark.parametrize(
    "body", [b"[" * 1500 + b"]" * 1500, b"[" + b"7" * 5000 + b"]", b'{"id": NaN}', b"\xff\xfe", b'"\\ud800"']
)
def test_local_events_with_hostile_json_answer_400(local_stack: RunningStack, body: bytes) -> None:
    response = httpx.post(f"{local_stack.base_url}/_local/events", content=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_JSON"
