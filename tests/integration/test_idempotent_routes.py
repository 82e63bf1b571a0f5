"""`Idempotency-Key` on the workspace API's POST routes (api/idempotency.py, design §9.7): create, test-send (both
modes), dead-letter replay, recover, pause and resume answer a retry with the first answer and do nothing again; the
same key on another request is refused; keys are per workspace; a create whose answer was never recorded is not made
twice; a generated signing secret is shown again but never stored."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.audit import api_key_actor
from nimriz_destinations.errors import IdempotencyKeyInUse
from nimriz_destinations.models.destinations import DestinationCreate
from nimriz_destinations.service.idempotency import IdempotentOperation
from nimriz_destinations.storage.records import Workspace
from tests.aws_usage import AwsMeter
from tests.conftest import ApiClient, ApiResponse
from tests.faults import FaultInjector
from tests.integration.test_api_keys import error_of, table_dump
from tests.integration.test_delivery_pipeline import BASE, click, receiver, webhook_destination
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkResponse

__all__ = ["receiver"]  # the fixture, shared with the pipeline tests

AUDIT = "/api/integrations/audit-log"
START = "2026-01-01T00:00:00Z"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def post(api: ApiClient, path: str, body: Any = None, key: str | None = None) -> ApiResponse:
    return api.post(path, body, headers={} if key is None else {"idempotency-key": key})


def new_webhook(name: str = "Webhook", **credentials: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "generic_http",
        "credentials": {"url": "https://hooks.example.com/in", **credentials},
        "actions": [{"name": "All events", "action_type": "send_webhook"}],
    }


def effects(api: ApiClient, aws: LocalStack) -> dict[str, Any]:
    """What the routes change: the workspace's destinations, its audit log, the messages queued."""
    sqs = boto3.client("sqs")
    queued = {}
    for queue in ("DeliveriesQueue", "RecoveriesQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=aws.queue_urls[queue],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        queued[queue] = sum(int(value) for value in attributes.values())
    return {
        "destinations": api.get(BASE).json()["destinations"],
        "audit": api.get(f"{AUDIT}?limit=100").json()["audit_log"],
        "queued": queued,
    }


def dead_lettered(api: ApiClient, pipeline: Pipeline, sink: Sink) -> str:
    """A webhook destination with one dead letter (its endpoint answered 400)."""
    sink.script.append(SinkResponse(400, {"error": "bad payload"}))
    destination_id: str = webhook_destination(api, sink.url)["id"]
    pipeline.publish(click())
    pipeline.run()
    return destination_id


@dataclass(frozen=True)
class Route:
    name: str
    # (path, body) of a request, and (path, body) of another request to the same route
    prepare: Callable[[ApiClient, Pipeline, Sink], tuple[tuple[str, Any], tuple[str, Any]]]


def _create(api: ApiClient, pipeline: Pipeline, sink: Sink) -> tuple[tuple[str, Any], tuple[str, Any]]:
    return (BASE, new_webhook()), (BASE, new_webhook("Another"))


def _test_send(mode: str) -> Callable[[ApiClient, Pipeline, Sink], tuple[tuple[str, Any], tuple[str, Any]]]:
    def prepare(api: ApiClient, pipeline: Pipeline, sink: Sink) -> tuple[tuple[str, Any], tuple[str, Any]]:
        path = f"{BASE}/{webhook_destination(api, sink.url)['id']}/test-send"
        other = "validate" if mode == "queue" else "queue"
        return (path, {"mode": mode}), (path, {"mode": other})

    return prepare


def _replay(api: ApiClient, pipeline: Pipeline, sink: Sink) -> tuple[tuple[str, Any], tuple[str, Any]]:
    path = f"{BASE}/{dead_lettered(api, pipeline, sink)}/dead-letters/replay"
    return (path, None), (path, {"ids": [UNKNOWN_ID]})


def _recover(api: ApiClient, pipeline: Pipeline, sink: Sink) -> tuple[tuple[str, Any], tuple[str, Any]]:
    path = f"{BASE}/{dead_lettered(api, pipeline, sink)}/recover"
    return (path, {"since": START, "statuses": ["dead_lettered"]}), (path, {"since": START, "statuses": ["skipped"]})


def _pause_or_resume(verb: str) -> Callable[[ApiClient, Pipeline, Sink], tuple[tuple[str, Any], tuple[str, Any]]]:
    def prepare(api: ApiClient, pipeline: Pipeline, sink: Sink) -> tuple[tuple[str, Any], tuple[str, Any]]:
        one, other = (webhook_destination(api, sink.url)["id"] for _ in range(2))
        if verb == "resume":
            for destination_id in (one, other):
                assert api.post(f"{BASE}/{destination_id}/pause").status == 200
        return (f"{BASE}/{one}/{verb}", None), (f"{BASE}/{other}/{verb}", None)

    return prepare


ROUTES = [
    Route("create", _create),
    Route("test-send", _test_send("queue")),
    Route("test-send validate", _test_send("validate")),
    Route("replay", _replay),
    Route("recover", _recover),
    Route("pause", _pause_or_resume("pause")),
    Route("resume", _pause_or_resume("resume")),
]


@pytest.fixture(params=ROUTES, ids=[route.name for route in ROUTES])
def route(request: pytest.FixtureRequest) -> Route:
    selected: Route = request.param
    return selected


class TestEveryRoute:
    def test_a_retry_with_the_same_key_gets_the_first_answer_and_nothing_is_done_again(
        self, api: ApiClient, aws: LocalStack, pipeline: Pipeline, receiver: tuple[Sink, Any], route: Route
    ) -> None:
        (path, body), _ = route.prepare(api, pipeline, receiver[0])
        first = post(api, path, body, "retry-1")
        assert first.status in (200, 201, 202), first.text
        assert first.header("Idempotent-Replayed") is None
        before = effects(api, aws)
        with AwsMeter().installed() as meter:
            runtime.reset()  # the project's clients, made again, are metered
            again = post(api, path, body, "retry-1")
        assert (again.status, again.json()) == (first.status, first.json())
        assert again.header("Idempotent-Replayed") == "true"
        assert again.header("ETag") == first.header("ETag")
        assert effects(api, aws) == before
        # The retry wrote nothing but its claim of the key (refused: the record was there), and sent nothing; the
        # authorizer's note of the API key's use aside.
        writes = [
            call
            for call in meter.calls
            if call.service == "sqs"
            or (call.write_units and not all(pk.startswith("APIKEYS#") for pk in call.partitions))
        ]
        assert [(call.service, call.operation) for call in writes] == [("dynamodb", "PutItem")]
        assert all(pk.startswith("IDEM#") for pk in writes[0].partitions)

    def test_the_same_key_on_another_request_to_the_route_answers_422(
        self, api: ApiClient, aws: LocalStack, pipeline: Pipeline, receiver: tuple[Sink, Any], route: Route
    ) -> None:
        (path, body), (other_path, other_body) = route.prepare(api, pipeline, receiver[0])
        assert post(api, path, body, "reused").status in (200, 201, 202)
        before = effects(api, aws)
        refused = post(api, other_path, other_body, "reused")
        assert refused.status == 422, refused.text
        assert error_of(refused)["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert effects(api, aws) == before

    def test_without_a_key_nothing_more_is_read_or_written(
        self, api: ApiClient, aws: LocalStack, pipeline: Pipeline, receiver: tuple[Sink, Any], route: Route
    ) -> None:
        (path, body), _ = route.prepare(api, pipeline, receiver[0])
        with AwsMeter().installed() as meter:
            runtime.reset()  # the project's clients, made again, are metered
            assert post(api, path, body).status in (200, 201, 202)
        touched = {pk for call in meter.calls for pk in call.partitions}
        assert touched and not any(pk.startswith("IDEM#") for pk in touched)


def test_the_same_key_on_another_route_answers_422(api: ApiClient) -> None:
    destination_id = post(api, BASE, new_webhook()).json()["destination"]["id"]
    assert post(api, f"{BASE}/{destination_id}/pause", key="one-key").status == 200
    refused = post(api, f"{BASE}/{destination_id}/resume", key="one-key")
    assert refused.status == 422 and error_of(refused)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert api.get(f"{BASE}/{destination_id}").json()["destination"]["paused"] is True


def test_path_ids_compare_in_any_case(api: ApiClient) -> None:
    destination_id = post(api, BASE, new_webhook()).json()["destination"]["id"]
    first = post(api, f"{BASE}/{destination_id}/pause", key="case")
    again = post(api, f"{BASE}/{destination_id.upper()}/pause", key="case")
    assert (again.status, again.json(), again.header("Idempotent-Replayed")) == (200, first.json(), "true")


def test_keys_are_per_workspace(api: ApiClient, other_api: ApiClient) -> None:
    here = post(api, BASE, new_webhook(), "shared-key")
    there = post(other_api, BASE, new_webhook(), "shared-key")
    assert (here.status, there.status) == (201, 201)
    assert there.header("Idempotent-Replayed") is None
    assert here.json()["destination"]["id"] != there.json()["destination"]["id"]
    assert len(other_api.get(BASE).json()["destinations"]) == 1


@pytest.mark.parametrize("idempotency_key", ["", "x" * 256, "caf\u00e9", "tab\tin"])
def test_an_idempotency_key_is_1_to_255_printable_ascii_characters(api: ApiClient, idempotency_key: str) -> None:
    response = post(api, BASE, new_webhook(), idempotency_key)
    assert response.status == 422, response.text
    assert [detail["path"] for detail in error_of(response)["details"]] == ["header.idempotency-key"]
    assert api.get(BASE).json()["destinations"] == []


def test_a_work_that_fails_records_nothing_and_a_retry_does_it(api: ApiClient) -> None:
    missing = post(api, f"{BASE}/{UNKNOWN_ID}/pause", key="after-404")
    assert missing.status == 404
    created = post(api, BASE, new_webhook(), "after-404")
    assert created.status == 201 and created.header("Idempotent-Replayed") is None


class TestIdempotentCreate:
    def test_a_replayed_create_shows_the_generated_signing_secret_again_which_is_never_stored(
        self, api: ApiClient, aws: LocalStack
    ) -> None:
        first = post(api, BASE, new_webhook(), "create-secret")
        secret = first.json()["destination"]["credentials"]["signing_secret"]
        assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 43
        again = post(api, BASE, new_webhook(), "create-secret")
        assert again.json()["destination"]["credentials"]["signing_secret"] == secret
        dump = table_dump(aws)
        for form in (secret, secret.removeprefix("whsec_"), secret.removeprefix("whsec_")[8:24]):
            assert form not in dump
        assert len(api.get(BASE).json()["destinations"]) == 1

    def test_a_supplied_signing_secret_is_not_recorded_either(self, api: ApiClient, aws: LocalStack) -> None:
        supplied = "whsec_customer_chosen_0123456789abcdef"
        first = post(api, BASE, new_webhook(signing_secret=supplied), "create-supplied")
        again = post(api, BASE, new_webhook(signing_secret=supplied), "create-supplied")
        assert again.json() == first.json() and supplied not in first.text
        assert supplied[8:24] not in table_dump(aws)

    def test_a_create_whose_answer_was_never_recorded_is_not_made_twice(
        self, api: ApiClient, aws: LocalStack, faults: FaultInjector
    ) -> None:
        recording = faults.fail("dynamodb", "UpdateItem", where=lambda params: ":answer" in str(params))
        first = post(api, BASE, new_webhook(), "create-unrecorded")
        assert first.status == 201, first.text
        faults.remove(recording)
        busy = post(api, BASE, new_webhook(), "create-unrecorded")
        assert busy.status == 409 and error_of(busy)["code"] == "IDEMPOTENCY_KEY_IN_USE"
        end_the_lease(aws)  # the request that did the work died before recording its answer
        again = post(api, BASE, new_webhook(), "create-unrecorded")
        assert (again.status, again.json()) == (201, first.json())
        assert again.header("ETag") == first.header("ETag")
        assert [d["id"] for d in api.get(BASE).json()["destinations"]] == [first.json()["destination"]["id"]]
        assert len(api.get(f"{AUDIT}?limit=100").json()["audit_log"]) == 1
        assert post(api, BASE, new_webhook(), "create-unrecorded").header("Idempotent-Replayed") == "true"

    def test_a_create_that_died_after_making_its_secret_makes_the_destination_once_when_retried(
        self, api: ApiClient, aws: LocalStack, faults: FaultInjector
    ) -> None:
        # It dies between the secret and the destination's write: nothing after the secret happens, nothing is undone.
        dies = [
            faults.fail("dynamodb", "TransactWriteItems"),
            faults.fail("secretsmanager", "DeleteSecret"),
            faults.fail("dynamodb", "DeleteItem", where=lambda params: "IDEM#" in str(params)),
        ]
        assert post(api, BASE, new_webhook(), "create-half-done").status == 500
        for rule in dies:
            faults.remove(rule)
        assert api.get(BASE).json()["destinations"] == []
        end_the_lease(aws)
        again = post(api, BASE, new_webhook(), "create-half-done")
        assert again.status == 201, again.text
        (destination,) = api.get(BASE).json()["destinations"]
        assert destination["id"] == again.json()["destination"]["id"]
        stored = runtime.destination_service().credentials_of(
            runtime.destination_service().get("ws_dev", destination["id"])
        )
        assert stored["signing_secret"] == again.json()["destination"]["credentials"]["signing_secret"]
        replayed = post(api, BASE, new_webhook(), "create-half-done")
        assert (replayed.json(), replayed.header("Idempotent-Replayed")) == (again.json(), "true")

    def test_concurrent_creates_with_the_same_key_make_one_destination(self, api: ApiClient) -> None:
        workspace = Workspace(workspace_id="ws_dev", organization_id="org_dev")
        request = DestinationCreate.model_validate(new_webhook())
        performed: list[str] = []
        answers: list[object] = []

        def create(nonce: bytes) -> str:
            saved = runtime.destination_service().create(workspace, request, actor=api_key_actor(None), nonce=nonce)
            performed.append(saved.record.id)
            return saved.record.id

        operation = IdempotentOperation(
            "POST /api/integrations/destinations", {"body": 1}, create, lambda made: {"id": made},
            lambda recorded, nonce: str(recorded["id"]),
        )  # fmt: skip
        start = threading.Barrier(6)

        def request_once() -> None:
            start.wait()
            try:
                answers.append(runtime.idempotent_requests().run("ws_dev", "raced", operation).result)
            except IdempotencyKeyInUse as exc:
                answers.append(exc)

        threads = [threading.Thread(target=request_once) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(performed) == 1
        assert {answer for answer in answers if isinstance(answer, str)} == set(performed)
        assert len(api.get(BASE).json()["destinations"]) == 1


def end_the_lease(aws: LocalStack) -> None:
    table = boto3.client("dynamodb")
    (record,) = [
        item
        for item in table.scan(TableName=aws.tables["DestinationsTable"])["Items"]
        if item["PK"]["S"].startswith("IDEM#WS#ws_dev#")
    ]
    table.update_item(
        TableName=aws.tables["DestinationsTable"],
        Key={"PK": record["PK"], "SK": record["SK"]},
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": "0"}},
    )
