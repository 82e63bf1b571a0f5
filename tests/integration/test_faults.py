"""The dispatcher and the delivery log under the faults of issue 9, one test per finding: moto in-process with
faults injected in front of it (tests/faults.py), real sockets for the endpoints."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.delivery.dispatcher import SENDING_THREADS
from nimriz_destinations.jobs import DeliveryJob
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.deliveries import DeliverySearch
from tests.conftest import ApiClient
from tests.faults import FaultInjector
from tests.integration.test_delivery_pipeline import BASE, click, webhook_destination
from tests.local.lambdas import FakeLambdaContext
from tests.local.pollers import sqs_event
from tests.local.template import ROOT, functions
from tests.pipeline import Pipeline
from tests.sinks.raw_endpoint import RawEndpoint
from tests.sinks.server import Sink, SinkRequest, SinkResponse

# Short invocations: a lease lasts until its invocation's end (+5 s), so a job whose record failed is back soon;
# requests get 2 s in all, so a chunk still fits in one (with the 5 s kept for recording).
INVOCATION_SECONDS = 8


@pytest.fixture(autouse=True)
def short_requests(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "2")
    runtime.reset()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(lambda _: SinkResponse(200, {"ok": True})) as running:
        yield running


def other_click(**overrides: Any) -> dict[str, Any]:
    return click(workspace_id="ws_other", organization_id="org_ws_other", **overrides)


def set_queue(pipeline: Pipeline, queue: str, **attributes: str) -> None:
    pipeline.sqs.set_queue_attributes(QueueUrl=pipeline.stack.queue_urls[queue], Attributes=attributes)


def summaries(api: ApiClient, destination_id: str) -> dict[str, dict[str, Any]]:
    """The delivery log's summaries by event id."""
    response = api.get(f"{BASE}/{destination_id}/deliveries?limit=100")
    assert response.status == 200, response.text
    return {summary["event_id"]: summary for summary in response.json()["deliveries"]}


def attempt_log(api: ApiClient, destination_id: str, delivery_id: str) -> list[dict[str, Any]]:
    detail = api.get(f"{BASE}/{destination_id}/deliveries/{delivery_id}")
    assert detail.status == 200, detail.text
    attempts: list[dict[str, Any]] = detail.json()["delivery"]["attempt_log"]
    return attempts


def dead_letters(api: ApiClient, destination_id: str) -> dict[str, dict[str, Any]]:
    letters = api.get(f"{BASE}/{destination_id}/dead-letters?limit=100").json()["dead_letters"]
    return {letter["event_id"]: letter for letter in letters}


def health(api: ApiClient, destination_id: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"{BASE}/{destination_id}").json()["destination"]["health"]
    return found


def job_for(destination: dict[str, Any], event: dict[str, Any]) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=str(uuid.uuid4()),
        workspace_id=event["workspace_id"],
        organization_id=event["organization_id"],
        destination_id=destination["id"],
        action_id=destination["actions"][0]["id"],
        reason="live",
        event=event,
        queued_at="2026-11-28T12:00:00.000Z",
    )


def queue_jobs(pipeline: Pipeline, jobs: list[DeliveryJob], queue: str = "DeliveriesQueue") -> None:
    """Each job as one message on `queue`; on the released deliveries' FIFO queue in its destination's group."""
    for job in jobs:
        ordered = {"MessageGroupId": job.destination_id, "MessageDeduplicationId": job.delivery_id}
        pipeline.sqs.send_message(
            QueueUrl=pipeline.stack.queue_urls[queue],
            MessageBody=job.model_dump_json(),
            **(ordered if queue == "ReleasedDeliveriesQueue" else {}),
        )


def receive_all(pipeline: Pipeline, count: int) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while len(received) < count:
        messages = pipeline.sqs.receive_message(
            QueueUrl=pipeline.stack.queue_urls["DeliveriesQueue"],
            MaxNumberOfMessages=min(10, count - len(received)),
            AttributeNames=["All"],
        ).get("Messages", [])
        assert messages, f"only {len(received)} of {count} jobs on the queue"
        received += messages
    return received


def acknowledge(pipeline: Pipeline, messages: list[dict[str, Any]], response: dict[str, Any]) -> None:
    """What the event source mapping does after an invocation: delete every message not reported failed."""
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    for message in messages:
        if message["MessageId"] not in failed:
            pipeline.sqs.delete_message(
                QueueUrl=pipeline.stack.queue_urls["DeliveriesQueue"], ReceiptHandle=message["ReceiptHandle"]
            )


def dispatcher_environment(name: str) -> Any:
    """The dispatcher's handler loaded as a module of its own: another execution environment's copy of it."""
    properties = functions()["DispatcherFunction"]["Properties"]
    path = ROOT / properties["CodeUri"] / "dispatcher.py"
    spec = importlib.util.spec_from_file_location(f"dispatcher_environment_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def mentions(text: str) -> Any:
    """A fault-rule predicate: the call's parameters mention `text` (e.g. an event id in a log write)."""
    return lambda params: text in json.dumps(params, default=str)


# -- 1. a partial log write ----------------------------------------------------------------------------------------


def test_a_log_write_failing_midway_never_leaves_a_dead_lettered_delivery_without_its_dead_letter(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector
) -> None:
    with Sink(lambda _: SinkResponse(400, {"error": "rejected"})) as sink:
        destination = webhook_destination(api, sink.url)
        set_queue(pipeline, "DeliveriesQueue", VisibilityTimeout="2")  # a failed batch comes back quickly
        # Every attempt of the second log write of the run fails (whatever the write: a batch, a transaction).
        faults.fail("dynamodb", ["BatchWriteItem", "TransactWriteItems"], call=2)
        events = [click() for _ in range(10)]  # 10 dead letters: 30 log items, more than one 25-item batch
        pipeline.publish(*events)
        pipeline.run(timeout=60)

        logged = summaries(api, destination["id"])
        letters = dead_letters(api, destination["id"])
        assert {summary["status"] for summary in logged.values()} == {"dead_lettered"}
        assert set(letters) == set(logged) == {event["id"] for event in events}
        assert all(letter["attempts"] == 1 and letter["http_status"] == 400 for letter in letters.values())
        for summary in logged.values():
            assert [a["http_status"] for a in attempt_log(api, destination["id"], summary["id"])] == [400]
        assert len(sink.requests) == 10


def test_a_send_whose_record_cannot_be_written_is_counted_once_and_affects_only_its_job(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector
) -> None:
    with Sink(lambda _: SinkResponse(400, {"error": "rejected"})) as sink:
        destination = webhook_destination(api, sink.url)
        pipeline.invocation_seconds["DispatcherFunction"] = INVOCATION_SECONDS
        unlucky, lucky = click(), click()
        pipeline.publish(unlucky, lucky)
        assert pipeline.poll("FanOutFunction") == 2
        # Every log write that mentions the unlucky event fails, for this invocation.
        rule = faults.fail("dynamodb", ["BatchWriteItem", "TransactWriteItems"], where=mentions(unlucky["id"]))
        assert pipeline.poll("DispatcherFunction") == 2
        faults.remove(rule)

        # The other job of the batch was recorded as usual.
        assert set(dead_letters(api, destination["id"])) == {lucky["id"]}
        assert unlucky["id"] not in summaries(api, destination["id"])
        pipeline.run(timeout=60)

        # The unrecorded send is counted as attempt 1 when the job comes back after its lease; attempt 2 is sent.
        summary = summaries(api, destination["id"])[unlucky["id"]]
        attempts = attempt_log(api, destination["id"], summary["id"])
        assert [(a["attempt"], a["error_class"]) for a in attempts] == [(1, "unrecorded"), (2, "http_400")]
        sent_for_unlucky = [r for r in sink.requests if r.header("X-Nim-Event-Id") == unlucky["id"]]
        assert [r.header("X-Nim-Delivery-Attempt") for r in sent_for_unlucky] == ["1", "2"]
        assert dead_letters(api, destination["id"])[unlucky["id"]]["attempts"] == 2


# -- 2. a hanging endpoint -------------------------------------------------------------------------------------------


@contextmanager
def hanging_beside_healthy(*, release_once_served: bool = False) -> Iterator[tuple[RawEndpoint, Sink, list[int]]]:
    """An endpoint that never answers (until the block ends, or the healthy one was served) beside a healthy one,
    which notes how many requests the hanging one had received when it was served."""
    release = threading.Event()
    hanging_requests_when_healthy_sent: list[int] = []

    def never_answer(_: socket.socket) -> None:
        release.wait(30)

    with RawEndpoint(never_answer) as hanging:

        def healthy_answer(_: SinkRequest) -> SinkResponse:
            hanging_requests_when_healthy_sent.append(hanging.requests)
            if release_once_served:
                release.set()
            return SinkResponse(200, {"ok": True})

        with Sink(healthy_answer) as healthy:
            try:
                yield hanging, healthy, hanging_requests_when_healthy_sent
            finally:
                release.set()


def test_a_hanging_endpoint_holds_neither_another_workspaces_job_nor_the_invocation_past_its_time(
    api: ApiClient, other_api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "1")
    monkeypatch.setenv("CIRCUIT_COOL_DOWN_SECONDS", "60")
    runtime.reset()
    with hanging_beside_healthy() as (hanging, healthy, hanging_requests_when_healthy_sent):
        stuck = webhook_destination(api, hanging.url)
        fine = webhook_destination(other_api, healthy.url)
        # 49 jobs to the hanging endpoint first, then the other workspace's job: one batch of 50.
        queue_jobs(pipeline, [job_for(stuck, click()) for _ in range(49)] + [job_for(fine, other_click())])
        messages = receive_all(pipeline, 50)
        context = FakeLambdaContext("DispatcherFunction", 10)
        handler = dispatcher_environment("hanging")
        response = handler(sqs_event(pipeline.sources["DispatcherFunction"], messages), context)
        remaining_ms = context.get_remaining_time_in_millis()

    # The healthy job went out while at most one request per lane of the hanging destination was open.
    assert len(healthy.requests) == 1 and hanging_requests_when_healthy_sent[0] <= 2
    assert remaining_ms > 0, "the invocation outlived its time"
    # The hanging endpoint's jobs: those sent are recorded as timeouts, one attempt each; the rest went back
    # to the queue unsent (the circuit opened), not counted.
    logged = summaries(api, stuck["id"])
    assert len(logged) == hanging.requests < 49
    assert all(s["attempts"] == 1 and s["last_error_class"] == "timeout" for s in logged.values())
    returned = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert len(returned) == 49  # retries of the timed-out ones and the unsent ones
    assert health(api, stuck["id"])["circuit"] == "open"
    assert summaries(other_api, fine["id"])[json.loads(messages[-1]["Body"])["event"]["id"]]["status"] == ("delivered")


def test_hanging_endpoints_of_one_workspace_hold_only_its_share_of_the_threads(
    api: ApiClient, other_api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The finding: 8 hanging destinations of one workspace took all 8 sending threads (the bulkhead was per
    # destination), so another workspace's job in the batch waited for their timeouts. Requests may take 20 s here,
    # so none is cut before the other workspace's job went out: what was open then is what ran at once.
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "20")
    runtime.reset()
    with hanging_beside_healthy(release_once_served=True) as (hanging, healthy, hanging_requests_when_healthy_sent):
        stuck = [webhook_destination(api, hanging.url) for _ in range(8)]
        fine = webhook_destination(other_api, healthy.url)
        queue_jobs(pipeline, [job_for(d, click()) for d in stuck for _ in range(2)] + [job_for(fine, other_click())])
        messages = receive_all(pipeline, 17)
        handler = dispatcher_environment("hanging-workspace")
        handler(
            sqs_event(pipeline.sources["DispatcherFunction"], messages), FakeLambdaContext("DispatcherFunction", 60)
        )

    # Two workspaces share the batch's threads: the hanging one holds at most its half while the other's job goes out.
    assert len(healthy.requests) == 1
    assert hanging_requests_when_healthy_sent[0] <= SENDING_THREADS // 2
    assert summaries(other_api, fine["id"])[json.loads(messages[-1]["Body"])["event"]["id"]]["status"] == "delivered"


# -- 3. failed invocations ------------------------------------------------------------------------------------------


def test_invocations_that_could_not_try_a_job_consume_no_attempts_and_spare_other_destinations(
    api: ApiClient, other_api: ApiClient, pipeline: Pipeline, faults: FaultInjector, sink: Sink
) -> None:
    with Sink(lambda _: SinkResponse(503, {"error": "down"})) as failing:
        broken = webhook_destination(api, failing.url)
        fine = webhook_destination(other_api, sink.url)
        set_queue(pipeline, "DeliveriesQueue", VisibilityTimeout="2")  # a failed invocation's batch is back soon
        # The batch's first check fails outright, then three reads of the broken destination's config.
        faults.fail("dynamodb", "BatchGetItem", call=1)
        faults.fail("dynamodb", "GetItem", times=3 * 4, where=mentions(f"DEST#{broken['id']}"))
        event, other = click(), other_click()
        pipeline.publish(event, other)
        pipeline.run(timeout=120)

        assert faults.injected["dynamodb.GetItem"] == 12 and faults.injected["dynamodb.BatchGetItem"] == 4
        (summary,) = summaries(api, broken["id"]).values()
        attempts = attempt_log(api, broken["id"], summary["id"])
        error_classes = [(a["attempt"], a["error_class"], a["http_status"]) for a in attempts]
        assert len(failing.requests) == 6, (error_classes, summary)
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6], error_classes
        assert all(a["http_status"] == 503 for a in attempts), error_classes
        letter = dead_letters(api, broken["id"])[event["id"]]
        assert letter["attempts"] == 6 and "gave up after 6 attempts" in letter["message"]
        assert summaries(other_api, fine["id"])[other["id"]]["attempts"] == 1 and len(sink.requests) == 1


# -- 4. duplicate jobs ------------------------------------------------------------------------------------------------


def test_two_copies_of_a_delivery_in_flight_send_once_and_the_delivered_record_stays(
    api: ApiClient, pipeline: Pipeline
) -> None:
    answered = []
    lock = threading.Lock()

    def first_slow_then_503(_: SinkRequest) -> SinkResponse:
        with lock:
            answered.append(1)
            first = len(answered) == 1
        if first:
            time.sleep(1.0)  # copy A's request is still open while copy B runs
            return SinkResponse(200, {"ok": True})
        return SinkResponse(503, {"error": "down"})

    with Sink(first_slow_then_503) as sink:
        destination = webhook_destination(api, sink.url)
        job = job_for(destination, click())
        queue_jobs(pipeline, [job, job])  # e.g. fan-out re-ran after SQS refused part of its send
        copy_a, copy_b = receive_all(pipeline, 2)
        source = pipeline.sources["DispatcherFunction"]
        responses: dict[str, Any] = {}

        def run(name: str, message: dict[str, Any]) -> None:
            context = FakeLambdaContext("DispatcherFunction", INVOCATION_SECONDS)
            responses[name] = dispatcher_environment(name)(sqs_event(source, [message]), context)

        first = threading.Thread(target=run, args=("a", copy_a))
        first.start()
        time.sleep(0.3)
        run("b", copy_b)
        first.join()
        acknowledge(pipeline, [copy_a], responses["a"])
        acknowledge(pipeline, [copy_b], responses["b"])
        pipeline.run(timeout=60)  # copy B comes back after copy A's lease, and finds the delivery finished

        assert len(sink.requests) == 1
        (summary,) = summaries(api, destination["id"]).values()
        assert summary["status"] == "delivered" and summary["attempts"] == 1
        (attempt,) = attempt_log(api, destination["id"], job.delivery_id)
        assert attempt["outcome"] == "delivered" and attempt["http_status"] == 200


# -- 7. smaller findings ----------------------------------------------------------------------------------------------


def test_a_retry_whose_visibility_could_not_be_set_still_waits_for_its_time(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector
) -> None:
    with Sink(lambda _: SinkResponse(503, {"error": "later"}, {"Retry-After": "60"})) as sink:
        destination = webhook_destination(api, sink.url)
        set_queue(pipeline, "DeliveriesQueue", VisibilityTimeout="1")  # an unscheduled message is back in 1 s
        faults.fail("sqs", ["ChangeMessageVisibility", "ChangeMessageVisibilityBatch"])
        pipeline.publish(click())
        assert pipeline.poll("FanOutFunction") == 1
        assert pipeline.poll("DispatcherFunction") == 1  # attempt 1: 503, retry planned in 60 s

        receives = 0
        until = time.monotonic() + 5
        while time.monotonic() < until:
            receives += pipeline.poll("DispatcherFunction")
            time.sleep(0.2)

        assert receives >= 2, "the job should have come back early"
        assert len(sink.requests) == 1
        (summary,) = summaries(api, destination["id"]).values()
        assert summary["status"] == "retrying" and summary["attempts"] == 1


def test_a_job_parked_after_failing_untried_records_its_real_send_count(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector
) -> None:
    with Sink(lambda _: SinkResponse(503, {"error": "down"})) as sink:
        destination = webhook_destination(api, sink.url)
        dlq_arn = pipeline.stack.queue_arns["DeliveriesDLQ"]
        set_queue(
            pipeline,
            "DeliveriesQueue",
            RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "4"}),
        )
        event = click()
        pipeline.publish(event)
        until = time.monotonic() + 30
        while len(sink.requests) < 2 and time.monotonic() < until:  # two real sends (attempts 1 and 2)
            pipeline.poll("FanOutFunction")
            pipeline.poll("DispatcherFunction")
            time.sleep(0.2)
        assert len(sink.requests) == 2
        # From now on the destination's config cannot be read: the job comes back untried until SQS parks it.
        unreadable = faults.fail("dynamodb", "GetItem", where=mentions(f"DEST#{destination['id']}"))
        pipeline.run(timeout=60)
        faults.remove(unreadable)

        letter = dead_letters(api, destination["id"])[event["id"]]
        assert letter["error_class"] == "processing_failed" and letter["attempts"] == 2
        assert len(sink.requests) == 2
        summary = summaries(api, destination["id"])[event["id"]]
        assert summary["status"] == "dead_lettered" and summary["attempts"] == 2


def test_nothing_is_sent_to_a_destination_after_its_delete_returned(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, sink: Sink
) -> None:
    monkeypatch.setenv("CONFIG_CACHE_SECONDS", "300")  # the dispatcher's cached config outlives the delete
    runtime.reset()
    destination = webhook_destination(api, sink.url)
    pipeline.publish(click())
    pipeline.run()
    assert len(sink.requests) == 1

    assert api.delete(f"{BASE}/{destination['id']}").status == 204
    later = click()
    pipeline.publish(later)  # fan-out's cached config still routes it to the deleted destination
    pipeline.run()

    assert len(sink.requests) == 1
    found = runtime.delivery_log().list_deliveries(
        "ws_dev", destination["id"], DeliverySearch(), limit=10, cursor=None
    )[0]
    skipped = {summary.event_id: summary for summary in found}[later["id"]]
    assert skipped.status == "skipped" and skipped.last_error_class == "destination_deleted"
    assert skipped.attempts == 0


# -- circuit breaker ------------------------------------------------------------------------------------------------


def test_a_destination_failing_repeatedly_opens_its_circuit_then_one_probe_at_a_time_decides(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCUIT_FAILURE_THRESHOLD", "3")
    monkeypatch.setenv("CIRCUIT_COOL_DOWN_SECONDS", "4")
    runtime.reset()
    answer = {"status": 503}
    with Sink(lambda _: SinkResponse(answer["status"], {})) as sink:
        destination = webhook_destination(api, sink.url)
        events = [click() for _ in range(8)]
        pipeline.publish(*events)
        while pipeline.poll("FanOutFunction"):
            pass
        assert pipeline.poll("DispatcherFunction") == 8

        # Two lanes for the destination: the circuit opens on the 3rd failure, with at most one more in flight.
        opened_after = len(sink.requests)
        assert 3 <= opened_after <= 4
        assert health(api, destination["id"])["circuit"] == "open"
        logged = summaries(api, destination["id"])
        assert sum(s["attempts"] for s in logged.values()) == opened_after  # the others went back uncounted

        # While open, the retries that come back go back again unsent.
        time.sleep(1.2)
        assert pipeline.poll("DispatcherFunction") > 0
        assert len(sink.requests) == opened_after

        def poll_until_sent() -> None:
            before, until = len(sink.requests), time.monotonic() + 30
            while len(sink.requests) == before and time.monotonic() < until:
                pipeline.poll("DispatcherFunction")
                time.sleep(0.1)

        # After the cool-down, one probe: it fails, so the circuit opens again and nothing else was sent.
        poll_until_sent()
        assert len(sink.requests) == opened_after + 1
        assert health(api, destination["id"])["circuit"] == "open"

        # After the next (doubled) cool-down the probe succeeds: the circuit closes and the rest follows.
        answer["status"] = 200
        poll_until_sent()
        assert health(api, destination["id"])["circuit"] == "closed"
        pipeline.run(timeout=60)

        final = summaries(api, destination["id"])
        assert {s["status"] for s in final.values()} == {"delivered"} and set(final) == {e["id"] for e in events}
        sends = Counter(r.header("X-Nim-Event-Id") for r in sink.requests)
        assert {event_id: s["attempts"] for event_id, s in final.items()} == dict(sends)


def test_re_enabling_a_destination_closes_its_open_circuit_in_every_dispatcher_at_the_next_batch(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIRCUIT_FAILURE_THRESHOLD", "1")
    monkeypatch.setenv("CIRCUIT_COOL_DOWN_SECONDS", "300")
    runtime.reset()
    answer = {"status": 503}
    with Sink(lambda _: SinkResponse(answer["status"], {})) as sink:
        destination = webhook_destination(api, sink.url)
        pipeline.publish(click())
        assert pipeline.poll("FanOutFunction") == 1
        assert pipeline.poll("DispatcherFunction") == 1
        assert health(api, destination["id"])["circuit"] == "open" and len(sink.requests) == 1

        # The customer disables the destination, mends the endpoint and enables it again.
        answer["status"] = 200
        for enabled in (False, True):
            current = api.get(f"{BASE}/{destination['id']}")
            shown = current.json()["destination"]
            action = {k: shown["actions"][0][k] for k in ("id", "name", "action_type", "event_filter")}
            body = {"name": shown["name"], "enabled": enabled, "actions": [action]}
            updated = api.put(f"{BASE}/{destination['id']}", body, headers={"If-Match": current.header("ETag") or ""})
            assert updated.status == 200, updated.text
        assert health(api, destination["id"])["circuit"] == "closed"

        event = click()
        pipeline.publish(event)
        pipeline.run(timeout=30)  # the dispatcher that opened the circuit for 5 minutes sends again at once

        logged = summaries(api, destination["id"])
        assert event["id"] in logged and {summary["status"] for summary in logged.values()} == {"delivered"}


# -- attempts are requests on the wire ---------------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more: connections are refused


def test_a_token_endpoint_that_keeps_failing_costs_no_attempt_and_dead_letters_after_six_failures_naming_it(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.providers import GOOGLE_ADS

    monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"google_ads": closed_port_url()}))
    runtime.reset()
    created = api.post(
        BASE,
        {
            "name": "Google Ads",
            "type": "google_ads",
            "credentials": {**GOOGLE_ADS, "refresh_token": f"1//refused-{uuid.uuid4()}"},
            "actions": [{"name": "Sales", "action_type": "send_conversion"}],
        },
    )
    assert created.status == 201, created.text
    destination = created.json()["destination"]
    sale = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
    pipeline.publish(sale)
    pipeline.run(timeout=60)

    summary = summaries(api, destination["id"])[sale["id"]]
    shown = (summary["status"], summary["attempts"], summary["last_error_class"])
    assert shown == ("dead_lettered", 0, "network_error")
    logged = attempt_log(api, destination["id"], summary["id"])
    assert [(entry["attempt"], entry["outcome"]) for entry in logged] == [(None, "retry")] * 6
    letter = dead_letters(api, destination["id"])[sale["id"]]
    assert letter["attempts"] == 0 and "gave up after 6 failures before any request was sent" in letter["message"]
    assert "access token" in letter["message"]


@pytest.mark.parametrize("failing", ["building the request", "the mapping"])
def test_a_delivery_whose_request_cannot_be_made_costs_no_attempt_and_sends_nothing(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, sink: Sink, failing: str
) -> None:
    from nimriz_destinations.delivery import config
    from nimriz_destinations.mapping.compile import CompiledMapping
    from nimriz_destinations.providers.generic_http import GenericHttp

    def broken(*_: object, **__: object) -> Any:
        raise RuntimeError(f"a bug in {failing}")

    if failing == "building the request":
        monkeypatch.setattr(GenericHttp, "build_requests", broken)
    else:  # every mapping compiles to a function that raises
        monkeypatch.setattr(config, "compile_mapping", lambda _: CompiledMapping(broken))
    destination = webhook_destination(api, sink.url)
    event = click()
    pipeline.publish(event)
    pipeline.run(timeout=60)

    assert sink.requests == []
    summary = summaries(api, destination["id"])[event["id"]]
    assert (summary["status"], summary["attempts"]) == ("dead_lettered", 0)
    assert {entry["attempt"] for entry in attempt_log(api, destination["id"], summary["id"])} == {None}
    assert dead_letters(api, destination["id"])[event["id"]]["attempts"] == 0


@pytest.mark.parametrize(
    ("queue", "dead_letter_queue"),
    [("DeliveriesQueue", "DeliveriesDLQ"), ("ReleasedDeliveriesQueue", "ReleasedDeliveriesDLQ")],
    ids=["a job", "a released job (the FIFO queue and its own dead-letter queue)"],
)
def test_a_chunk_failing_after_its_leases_gives_them_back_so_no_attempt_is_counted(
    api: ApiClient, pipeline: Pipeline, sink: Sink, monkeypatch: pytest.MonkeyPatch, queue: str, dead_letter_queue: str
) -> None:
    from nimriz_destinations.providers.generic_http import GenericHttp

    def broken(_: object) -> bool:
        raise RuntimeError("a bug while preparing a chunk")

    # Preparing a notice's chunk fails unexpectedly after its lease was taken, each time the job comes back, until
    # SQS gives up on it and the dead-letter queue's consumer records it.
    monkeypatch.setattr(GenericHttp, "receives_notices", property(broken))
    destination = webhook_destination(api, sink.url)
    pipeline.invocation_seconds["DispatcherFunction"] = INVOCATION_SECONDS
    dlq_arn = pipeline.stack.queue_arns[dead_letter_queue]
    set_queue(pipeline, queue, RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}))
    event = click(type="destination.failing")
    queue_jobs(pipeline, [job_for(destination, event)], queue)
    pipeline.run(timeout=90)

    assert sink.requests == []
    letter = dead_letters(api, destination["id"])[event["id"]]
    assert (letter["error_class"], letter["attempts"]) == ("processing_failed", 0)
    summary = summaries(api, destination["id"])[event["id"]]
    assert summary["attempts"] == 0 and attempt_log(api, destination["id"], summary["id"]) == []


def test_a_lease_that_cannot_be_released_is_waited_out_not_counted_as_an_attempt(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector
) -> None:
    answers = [503]
    with Sink(lambda _: SinkResponse(answers.pop(0) if answers else 200, {})) as sink:
        destination = webhook_destination(api, sink.url)
        pipeline.invocation_seconds["DispatcherFunction"] = INVOCATION_SECONDS
        event = click()
        pipeline.publish(event)
        assert pipeline.poll("FanOutFunction") == 1
        assert pipeline.poll("DispatcherFunction") == 1  # attempt 1: 503, a retry in about a second
        time.sleep(1.5)
        # The retry's lease answers so late that its request no longer fits; giving the lease back fails.
        slow = faults.slow("dynamodb", "UpdateItem", seconds=2.5, where=sets_lease)
        refused = faults.fail("dynamodb", "UpdateItem", where=releases_lease)
        assert pipeline.poll("DispatcherFunction") == 1
        faults.remove(slow)
        faults.remove(refused)
        assert len(sink.requests) == 1
        pipeline.run(timeout=60)

    sent = [request.header("X-Nim-Delivery-Attempt") for request in sink.requests]
    summary = summaries(api, destination["id"])[event["id"]]
    logged = attempt_log(api, destination["id"], summary["id"])
    assert sent == ["1", "2"] and [entry["attempt"] for entry in logged] == [1, 2], logged
    assert (summary["status"], summary["attempts"]) == ("delivered", 2)


def sets_lease(params: Any) -> bool:
    return "DLV#" in json.dumps(params.get("Key", {})) and "lease_until = " in params.get("UpdateExpression", "")


def releases_lease(params: Any) -> bool:
    expression = params.get("UpdateExpression", "")
    return "DLV#" in json.dumps(params.get("Key", {})) and "REMOVE lease_" in expression and "status" not in expression


# -- everything under the deadline -------------------------------------------------------------------------------


def test_an_invocation_against_slow_token_dns_and_dynamodb_answers_returns_in_time_with_every_job_settled_or_back(
    api: ApiClient, pipeline: Pipeline, faults: FaultInjector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.providers import GOOGLE_ADS, PROVIDERS
    from tests.sinks.google_ads import GoogleAdsSink

    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "5")
    google_ads = PROVIDERS["google_ads"].handler()
    assert isinstance(google_ads, GoogleAdsSink)
    slow_answers = threading.Event()

    def google(request: SinkRequest) -> SinkResponse:
        if slow_answers.is_set():
            time.sleep(4)  # the conversion API and the token endpoint alike
        return google_ads(request)

    resolve = socket.getaddrinfo

    def slow_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "slow-dns.localhost":
            time.sleep(12)
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    with Sink(google) as google_sink, Sink(lambda _: SinkResponse(200, {})) as webhook_sink:
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"google_ads": google_sink.url}))
        runtime.reset()
        body = {"name": "Ads", "type": "google_ads", "credentials": GOOGLE_ADS,
                "actions": [{"name": "Sales", "action_type": "send_conversion"}]}  # fmt: skip
        ads = api.post(BASE, body).json()["destination"]
        pipeline.publish(sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev"))
        pipeline.run()  # an access token is obtained and cached
        hook = webhook_destination(api, webhook_sink.url.replace("127.0.0.1", "slow-dns.localhost"))
        google_ads.revoke_access_tokens()  # the cached token now answers 401: the next send refreshes it
        slow_answers.set()
        faults.slow("dynamodb", ("UpdateItem", "TransactWriteItems"), seconds=3, where=mentions("DLV#"))
        sale = sample_event("conversion.sale", workspace_id="ws_dev", organization_id="org_dev")
        queue_jobs(pipeline, [job_for(ads, sale), job_for(hook, click())])
        messages = receive_all(pipeline, 2)
        context = FakeLambdaContext("DispatcherFunction", 14)
        response = dispatcher_environment("slow")(sqs_event(pipeline.sources["DispatcherFunction"], messages), context)
        remaining_ms = context.get_remaining_time_in_millis()

    assert remaining_ms > 0, "the invocation outlived its time"
    returned = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    for message in messages:
        job = json.loads(message["Body"])
        if message["MessageId"] not in returned:  # acknowledged: its outcome is on the record
            logged = summaries(api, job["destination_id"])
            assert logged[job["event"]["id"]]["status"] in ("delivered", "retrying", "dead_lettered"), logged


def test_a_copy_queued_again_beside_its_unclaimed_first_copy_in_flight_is_sent_once(
    api: ApiClient, pipeline: Pipeline
) -> None:
    """A fan-out re-run's copy (queued `again`) runs while the first copy (queued `once`, sent unclaimed) is still
    waiting for its answer: the hold keeps the second from sending until the first has recorded."""
    released = threading.Event()

    def slow_then_503(_: SinkRequest) -> SinkResponse:
        if not released.is_set():
            released.set()
            time.sleep(1.0)  # the first copy's request is still open while the second runs
            return SinkResponse(200, {"ok": True})
        return SinkResponse(503, {"error": "down"})

    with Sink(slow_then_503) as sink:
        destination = webhook_destination(api, sink.url)
        job = job_for(destination, click())
        queue_jobs(pipeline, [job.model_copy(update={"queued": "once"}), job.model_copy(update={"queued": "again"})])
        first, again = receive_all(pipeline, 2)
        source = pipeline.sources["DispatcherFunction"]
        responses: dict[str, Any] = {}

        def run(name: str, message: dict[str, Any]) -> None:
            context = FakeLambdaContext("DispatcherFunction", INVOCATION_SECONDS)
            responses[name] = dispatcher_environment(name)(sqs_event(source, [message]), context)

        running = threading.Thread(target=run, args=("first", first))
        running.start()
        released.wait(5)
        run("again", again)
        running.join()
        acknowledge(pipeline, [first], responses["first"])
        acknowledge(pipeline, [again], responses["again"])
        pipeline.run(timeout=60)  # the held copy comes back after its hold and finds the delivery finished

        assert len(sink.requests) == 1
        (summary,) = summaries(api, destination["id"]).values()
        assert summary["status"] == "delivered" and summary["attempts"] == 1
