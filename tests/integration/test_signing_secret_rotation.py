"""POST …/destinations/{id}/rotate-signing-secret in-process: the new secret shown once, the overlap signed with both
secrets (newest first), audited without secret values, and the route's refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.faults import FaultInjector
from tests.integration.test_delivery_pipeline import BASE, click
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkRequest, SinkResponse

FIRST_SECRET = "whsec_rotation_first_secret_0123456789"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(lambda request: SinkResponse(200, {"ok": True})) as running:
        yield running


def webhook(api: ApiClient, url: str) -> dict[str, Any]:
    body = {
        "name": "Hook",
        "type": "generic_http",
        "credentials": {"url": url, "signing_secret": FIRST_SECRET},
        "actions": [{"name": "All", "action_type": "send_webhook"}],
    }
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def rotate(api: ApiClient, destination_id: str, overlap_seconds: int) -> dict[str, Any]:
    response = api.post(f"{BASE}/{destination_id}/rotate-signing-secret", {"overlap_seconds": overlap_seconds})
    assert response.status == 200, response.text
    rotated: dict[str, Any] = response.json()
    return rotated


def signatures_verified(request: SinkRequest, secrets: list[str]) -> list[list[str]]:
    """Per listed signature (in header order), which of `secrets` it verifies under (hmac directly, from the
    documented contract)."""
    timestamp = request.headers["x-nim-timestamp"]
    signed = f"{timestamp}.".encode() + request.body
    expected = {secret: "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets}
    return [
        [secret for secret, signature in expected.items() if hmac.compare_digest(listed, signature)]
        for listed in request.headers["x-nim-signature"].split(" ")
    ]


def test_the_new_secret_is_shown_once_and_signs_first_beside_the_old_one_until_the_overlap_ends(
    api: ApiClient, pipeline: Pipeline, sink: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = webhook(api, sink.url)
    before = time.time()
    rotated = rotate(api, destination["id"], 2)
    new_secret = rotated["signing_secret"]
    assert new_secret.startswith("whsec_") and set(rotated) == {"signing_secret", "previous_secret_expires_at"}
    expires_at = datetime.fromisoformat(rotated["previous_secret_expires_at"]).timestamp()
    assert before + 2 <= expires_at <= time.time() + 2

    pipeline.publish(click())
    pipeline.run()
    (during,) = sink.requests
    assert signatures_verified(during, [new_secret, FIRST_SECRET]) == [[new_secret], [FIRST_SECRET]]

    time.sleep(max(0.0, expires_at - time.time()))  # the dispatcher compares with its own clock at each send
    pipeline.publish(click())
    pipeline.run()
    after = sink.requests[1]
    assert signatures_verified(after, [new_secret, FIRST_SECRET]) == [[new_secret]]

    shown = api.get(f"{BASE}/{destination['id']}")
    preview = api.post(f"{BASE}/{destination['id']}/preview", {})
    audit = api.get("/api/integrations/audit-log")
    for response in (shown, preview, audit):
        assert response.status == 200, response.text
        assert new_secret not in response.text and FIRST_SECRET not in response.text
    assert shown.json()["destination"]["credentials"]["signing_secret"] == "…" + new_secret[-4:]
    logged = capsys.readouterr()
    assert new_secret not in logged.out + logged.err and FIRST_SECRET not in logged.out + logged.err


def test_a_rotation_is_audited_with_hints_only(api: ApiClient, sink: Sink) -> None:
    destination = webhook(api, sink.url)
    new_secret = rotate(api, destination["id"], 3600)["signing_secret"]
    entry = api.get("/api/integrations/audit-log").json()["audit_log"][0]
    assert entry["action"] == "destination.signing_secret_rotated"
    assert entry["target"] == {"type": "destination", "id": destination["id"]}
    assert entry["changes"] == [
        {"path": "credentials.signing_secret", "before": "…" + FIRST_SECRET[-4:], "after": "…" + new_secret[-4:]}
    ]
    assert new_secret not in json.dumps(entry) and FIRST_SECRET not in json.dumps(entry)


def test_without_overlap_the_old_secret_stops_signing_at_once(api: ApiClient, pipeline: Pipeline, sink: Sink) -> None:
    destination = webhook(api, sink.url)
    rotated = rotate(api, destination["id"], 0)
    assert rotated["previous_secret_expires_at"] is None
    pipeline.publish(click())
    pipeline.run()
    (request,) = sink.requests
    assert signatures_verified(request, [rotated["signing_secret"], FIRST_SECRET]) == [[rotated["signing_secret"]]]


def test_saving_other_credentials_keeps_the_overlap_and_a_new_signing_secret_ends_it(
    api: ApiClient, pipeline: Pipeline, sink: Sink
) -> None:
    destination = webhook(api, sink.url)
    new_secret = rotate(api, destination["id"], 3600)["signing_secret"]
    action = {"id": destination["actions"][0]["id"], "name": "All", "action_type": "send_webhook"}
    update: dict[str, Any] = {
        "name": "Hook",
        "credentials": {"url": sink.url, "headers": {"X-Team": "growth"}},
        "actions": [action],
    }
    assert api.put(f"{BASE}/{destination['id']}", update).status == 200
    pipeline.publish(click())
    pipeline.run()
    assert signatures_verified(sink.requests[0], [new_secret, FIRST_SECRET]) == [[new_secret], [FIRST_SECRET]]

    mine = "whsec_chosen_by_the_customer_0123456789"
    update["credentials"] = {"url": sink.url, "signing_secret": mine}
    assert api.put(f"{BASE}/{destination['id']}", update).status == 200
    pipeline.publish(click())
    pipeline.run()
    assert signatures_verified(sink.requests[1], [mine, new_secret, FIRST_SECRET]) == [[mine]]


def test_a_rotation_whose_write_answer_is_lost_still_answers_the_secret_it_stored(
    api: ApiClient, pipeline: Pipeline, sink: Sink, faults: FaultInjector
) -> None:
    destination = webhook(api, sink.url)
    faults.lose_answer("dynamodb", "UpdateItem", where=lambda params: "#doc" in params.get("UpdateExpression", ""))
    new_secret = rotate(api, destination["id"], 0)["signing_secret"]
    shown = api.get(f"{BASE}/{destination['id']}").json()["destination"]
    assert shown["version"] == destination["version"] + 1  # one rotation, not one per retry
    pipeline.publish(click())
    pipeline.run()
    assert signatures_verified(sink.requests[0], [new_secret]) == [[new_secret]]


def test_rotating_an_unknown_or_another_workspace_s_destination_is_404(
    api: ApiClient, other_api: ApiClient, sink: Sink
) -> None:
    destination = webhook(api, sink.url)
    for client, destination_id in ((other_api, destination["id"]), (api, str(uuid.uuid4())), (api, "not-an-id")):
        response = client.post(f"{BASE}/{destination_id}/rotate-signing-secret", {"overlap_seconds": 60})
        assert response.status == 404 and response.json()["error"]["code"] == "DESTINATION_NOT_FOUND"


def test_a_destination_type_without_a_signing_secret_is_409(api: ApiClient) -> None:
    body = {
        "name": "Segment",
        "type": "segment",
        "credentials": {"write_key": "seg_live_0123456789abcdef"},
        "actions": [{"name": "All", "action_type": "send_event"}],
    }
    destination = api.post(BASE, body).json()["destination"]
    response = api.post(f"{BASE}/{destination['id']}/rotate-signing-secret", {"overlap_seconds": 60})
    assert response.status == 409 and response.json()["error"]["code"] == "SIGNING_SECRET_NOT_SUPPORTED"
    assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["version"] == destination["version"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"overlap_seconds": -1},
        {"overlap_seconds": 604801},
        {"overlap_seconds": "60"},
        {"overlap_seconds": 1.5},
        {"overlap_seconds": 60, "surprise": 1},
    ],
    ids=["missing", "negative", "over-7-days", "text", "fraction", "unknown-field"],
)
def test_an_invalid_overlap_is_422_and_changes_nothing(api: ApiClient, sink: Sink, body: dict[str, Any]) -> None:
    destination = webhook(api, sink.url)
    response = api.post(f"{BASE}/{destination['id']}/rotate-signing-secret", body)
    assert response.status == 422 and response.json()["error"]["code"] == "VALIDATION_FAILED", response.text
    assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["version"] == destination["version"]


def test_a_patch_of_other_credentials_during_the_overlap_keeps_both_secrets_signing(
    api: ApiClient, pipeline: Pipeline, sink: Sink
) -> None:
    destination = webhook(api, sink.url)
    new_secret = rotate(api, destination["id"], 3600)["signing_secret"]
    response = api.patch(f"{BASE}/{destination['id']}", {"credentials": {"headers": {"X-Team": "growth"}}})
    assert response.status == 200, response.text
    pipeline.publish(click())
    pipeline.run()
    assert sink.requests[0].headers.get("x-team") == "growth"
    assert signatures_verified(sink.requests[0], [new_secret, FIRST_SECRET]) == [[new_secret], [FIRST_SECRET]]
