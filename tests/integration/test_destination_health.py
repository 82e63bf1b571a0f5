"""Destination health through the pipeline on moto: failing, auto-disable, 410 at once, re-enable, notices."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.clock import iso_from_unix
from nimriz_destinations.delivery.health import HealthKeeper, HealthPolicy, SentOutcome
from nimriz_destinations.event_fields import NOTICE_EVENT_TYPES
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.destinations import DestinationStore
from tests.conftest import ApiClient, ApiResponse
from tests.integration import test_audit_log as audit_log
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.segment import segment_sink
from tests.sinks.server import Sink, SinkResponse
from tests.sinks.webhook_receiver import WebhookReceiver, webhook_receiver

BASE = "/api/integrations/destinations"
SECRET = "whsec_health_test_secret_0123456789"
FAILING_AFTER = 2
MIN_FAILURES = 3
DISABLE_AFTER_SECONDS = 1.0


@pytest.fixture
def thresholds(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """Short health thresholds, as the local stack allows: failing after 2 failures, disabled after 1 s and 3."""
    monkeypatch.setenv("HEALTH_FAILING_AFTER_FAILURES", str(FAILING_AFTER))
    monkeypatch.setenv("AUTO_DISABLE_MIN_FAILURES", str(MIN_FAILURES))
    monkeypatch.setenv("AUTO_DISABLE_AFTER_SECONDS", str(DISABLE_AFTER_SECONDS))
    runtime.reset()
    return pipeline


class Receivers:
    """`failing`: the destination whose health is watched; `watcher`: a webhook of the same workspace subscribed
    to every notice; `unsubscribed`: a webhook with the default filter."""

    def __init__(self, stack: ExitStack) -> None:
        self.failing = webhook_receiver(SECRET)
        self.watcher = webhook_receiver(SECRET)
        self.unsubscribed = webhook_receiver(SECRET)
        self.failing_sink = stack.enter_context(Sink(self.failing))
        self.watcher_sink = stack.enter_context(Sink(self.watcher))
        self.unsubscribed_sink = stack.enter_context(Sink(self.unsubscribed))


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    with ExitStack() as stack:
        yield Receivers(stack)


def webhook(api: ApiClient, url: str, *, event_types: list[str] | None = None, name: str = "Hook") -> dict[str, Any]:
    event_filter = {"include": {"event_types": event_types}} if event_types else {}
    body = {
        "name": name,
        "type": "generic_http",
        "credentials": {"url": url, "signing_secret": SECRET},
        "actions": [{"name": "Events", "action_type": "send_webhook", "event_filter": event_filter}],
    }
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def watched_destinations(api: ApiClient, receivers: Receivers) -> tuple[dict[str, Any], dict[str, Any]]:
    """The failing destination (subscribed to clicks and to every notice) and the watcher."""
    subscribed = ["link.clicked", *NOTICE_EVENT_TYPES]
    failing = webhook(api, receivers.failing_sink.url, event_types=subscribed, name="Failing hook")
    watcher = webhook(api, receivers.watcher_sink.url, event_types=list(NOTICE_EVENT_TYPES), name="Watcher")
    webhook(api, receivers.unsubscribed_sink.url, name="Default filter")
    return failing, watcher


def click() -> dict[str, Any]:
    return sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")


def answer_always(sink: Sink, status: int) -> None:
    sink.handler = lambda request: SinkResponse(status, {"error": "nope"})


def destination(api: ApiClient, destination_id: str) -> dict[str, Any]:
    response = api.get(f"{BASE}/{destination_id}")
    assert response.status == 200, response.text
    found: dict[str, Any] = response.json()["destination"]
    return found


def notices(receiver: WebhookReceiver) -> list[tuple[str, dict[str, Any]]]:
    return [(d.event_type, d.envelope["data"]) for d in receiver.verified if d.event_type in NOTICE_EVENT_TYPES]


def test_a_run_of_failures_makes_a_destination_failing_once_and_a_success_makes_it_healthy_again(
    api: ApiClient, thresholds: Pipeline, receivers: Receivers
) -> None:
    failing, _ = watched_destinations(api, receivers)
    answer_always(receivers.failing_sink, 400)  # permanent: dead-lettered at once, no retries, no circuit

    thresholds.publish(click(), click(), click())
    thresholds.run()

    health = destination(api, failing["id"])["health"]
    assert health["state"] == "failing" and health["consecutive_failures"] == 3
    assert health["since"] and health["last_failure_at"] and health["disabled_reason"] is None
    assert destination(api, failing["id"])["actions"][0]["health"]["state"] == "failing"
    ((kind, data),) = notices(receivers.watcher)  # one notice for the transition, not one per failure
    assert kind == "destination.failing"
    assert data["destination_id"] == failing["id"] and data["name"] == "Failing hook" and data["type"] == "generic_http"
    assert data["health"]["state"] == "failing" and data["health"]["consecutive_failures"] >= FAILING_AFTER
    assert data["last_error_class"] == "http_400" and data["last_http_status"] == 400

    receivers.failing_sink.handler = receivers.failing
    thresholds.publish(click())
    thresholds.run()

    shown = destination(api, failing["id"])
    assert shown["health"]["state"] == "healthy" and shown["health"]["consecutive_failures"] == 0
    assert shown["health"]["since"] == shown["health"]["last_success_at"]
    assert shown["actions"][0]["health"]["state"] == "healthy"
    assert [kind for kind, _ in notices(receivers.watcher)] == ["destination.failing", "destination.recovered"]
    recovered = notices(receivers.watcher)[1][1]
    assert recovered["health"]["state"] == "healthy" and recovered["last_error_class"] is None
    # Never a notice about itself, and none to a filter that does not list notice types.
    assert notices(receivers.failing) == [] and notices(receivers.unsubscribed) == []


def test_no_success_for_the_window_with_enough_failures_disables_the_destination(
    api: ApiClient, thresholds: Pipeline, receivers: Receivers
) -> None:
    failing, _ = watched_destinations(api, receivers)
    answer_always(receivers.failing_sink, 400)
    thresholds.publish(click(), click(), click())
    thresholds.run()
    assert destination(api, failing["id"])["enabled"] is True  # enough failures, but not for long enough yet

    time.sleep(DISABLE_AFTER_SECONDS)
    thresholds.publish(click())
    thresholds.run()

    response = api.get(f"{BASE}/{failing['id']}")
    shown = response.json()["destination"]
    assert shown["enabled"] is False and shown["version"] == failing["version"] + 1
    assert response.header("ETag") == f'"v{failing["version"] + 1}"'
    health = shown["health"]
    assert health["state"] == "disabled" and health["consecutive_failures"] == 4
    assert health["disabled_reason"].startswith("No successful delivery since")
    assert shown["actions"][0]["health"]["state"] == "disabled"
    assert [kind for kind, _ in notices(receivers.watcher)] == ["destination.failing", "destination.disabled"]
    disabled = notices(receivers.watcher)[1][1]
    assert disabled["destination_id"] == failing["id"] and disabled["health"] == {
        key: health[key] for key in disabled["health"]
    }

    sent_before = len(receivers.failing_sink.requests)
    thresholds.publish(click())
    thresholds.run()
    assert len(receivers.failing_sink.requests) == sent_before  # a disabled destination burns no more attempts
    assert notices(receivers.failing) == []

    # The audit log names the change and who made it: Nimriz itself.
    newest = audit_log.entries(api)[0]
    assert newest["actor"] == {"type": "system", "id": "system"} and newest["action"] == "destination.disabled"
    assert newest["target"] == {"type": "destination", "id": failing["id"]}
    assert {c["path"]: (c["before"], c["after"]) for c in newest["changes"]} == {
        "enabled": (True, False),
        "disabled_reason": (None, health["disabled_reason"]),
    }


def test_a_webhook_answering_410_gone_is_disabled_at_once(
    api: ApiClient, thresholds: Pipeline, receivers: Receivers
) -> None:
    failing, _ = watched_destinations(api, receivers)
    answer_always(receivers.failing_sink, 410)
    thresholds.publish(click())
    thresholds.run()

    shown = destination(api, failing["id"])
    assert shown["enabled"] is False
    assert shown["health"]["state"] == "disabled" and "410 Gone" in shown["health"]["disabled_reason"]
    ((kind, data),) = notices(receivers.watcher)
    assert kind == "destination.disabled"
    assert data["last_error_class"] == "endpoint_gone" and data["last_http_status"] == 410
    assert notices(receivers.failing) == []


def test_a_destination_only_throttled_for_longer_than_the_disable_window_stays_enabled_and_healthy(
    api: ApiClient, thresholds: Pipeline, receivers: Receivers
) -> None:
    # A provider's rate limit says nothing about whether the destination works (design §8.10): more throttled
    # answers in a row than failing or disabling would take, for longer than the window, change nothing.
    # The throttled jobs are not waited out (12 answers each, a second apart): the runs end once the answers the
    # test needs have come.
    failing, _ = watched_destinations(api, receivers)
    answer_always(receivers.failing_sink, 429)
    thresholds.publish(click(), click(), click())
    thresholds.run(until=lambda: len(receivers.failing_sink.requests) >= MIN_FAILURES + 1)
    time.sleep(DISABLE_AFTER_SECONDS)
    before = len(receivers.failing_sink.requests)
    thresholds.publish(click(), click())
    thresholds.run(until=lambda: len(receivers.failing_sink.requests) >= before + 2)

    assert len(receivers.failing_sink.requests) >= MIN_FAILURES + 3
    shown = destination(api, failing["id"])
    assert shown["enabled"] is True and shown["version"] == failing["version"]
    assert shown["health"]["state"] == "healthy" and shown["health"]["consecutive_failures"] == 0
    assert shown["health"]["last_failure_at"] is None and shown["health"]["disabled_reason"] is None
    assert shown["actions"][0]["health"]["state"] == "healthy"
    assert notices(receivers.watcher) == []


def test_re_enabling_through_put_makes_the_destination_healthy_again(
    api: ApiClient, thresholds: Pipeline, receivers: Receivers
) -> None:
    failing, _ = watched_destinations(api, receivers)
    answer_always(receivers.failing_sink, 410)
    thresholds.publish(click())
    thresholds.run()
    disabled = api.get(f"{BASE}/{failing['id']}")
    assert disabled.json()["destination"]["health"]["state"] == "disabled"

    body = {
        "name": failing["name"],
        "enabled": True,
        "actions": [{k: failing["actions"][0][k] for k in ("id", "name", "action_type", "event_filter")}],
    }
    updated = api.put(f"{BASE}/{failing['id']}", body, headers={"If-Match": disabled.header("ETag") or ""})
    assert updated.status == 200, updated.text

    for shown in (updated.json()["destination"], destination(api, failing["id"])):
        assert shown["enabled"] is True
        assert shown["health"]["state"] == "healthy" and shown["health"]["consecutive_failures"] == 0
        assert shown["health"]["disabled_reason"] is None and shown["health"]["since"] == shown["updated_at"]
        assert shown["health"]["last_failure_at"] == disabled.json()["destination"]["health"]["last_failure_at"]
        action = shown["actions"][0]["health"]
        assert action["state"] == "healthy" and action["consecutive_failures"] == 0
    receivers.failing_sink.handler = receivers.failing
    event = click()
    thresholds.publish(event)
    thresholds.run()
    assert [d.event_id for d in receivers.failing.verified] == [event["id"]]


def test_auto_disable_keeps_a_concurrent_update_and_bumps_the_version(api: ApiClient, aws: LocalStack) -> None:
    created = webhook(api, "https://hooks.example.com/nimriz")
    action = created["actions"][0]
    rename = {"name": "Renamed", "actions": [{k: action[k] for k in ("id", "name", "action_type")}]}
    store = DestinationStore(aws.tables["DestinationsTable"])
    read = store.get
    renamed: list[ApiResponse] = []

    def read_then_a_put_lands(workspace_id: str, destination_id: str, **kwargs: Any) -> Any:
        record = read(workspace_id, destination_id, **kwargs)
        if not renamed:  # between auto-disable's read and its write, a customer renames the destination
            renamed.append(api.put(f"{BASE}/{destination_id}", rename))
        return record

    store.get = read_then_a_put_lands  # type: ignore[method-assign]
    disabled = store.auto_disable("ws_dev", created["id"], reason="testing", at="2026-11-28T12:00:00.000Z")

    assert renamed[0].status == 200, renamed[0].text
    assert disabled is not None and disabled.name == "Renamed" and disabled.enabled is False
    shown = destination(api, created["id"])
    assert shown["name"] == "Renamed" and shown["enabled"] is False and shown["version"] == created["version"] + 2
    assert shown["health"]["state"] == "disabled" and shown["health"]["disabled_reason"] == "testing"


def test_an_auto_disable_another_change_made_unnecessary_leaves_no_audit_entry(api: ApiClient, aws: LocalStack) -> None:
    created = webhook(api, "https://hooks.example.com/nimriz")
    # The dispatcher judged the destination from its counts; a PUT disabled it before the auto-disable's write.
    action = {k: created["actions"][0][k] for k in ("id", "name", "action_type")}
    disabled_by_put = {"name": created["name"], "enabled": False, "actions": [action]}
    assert api.put(f"{BASE}/{created['id']}", disabled_by_put).status == 200
    gone = SentOutcome(created["actions"][0]["id"], delivered=False, error_class="endpoint_gone", http_status=410)
    published: list[dict[str, Any]] = []
    policy = HealthPolicy(
        failing_after_failures=FAILING_AFTER,
        disable_after_seconds=DISABLE_AFTER_SECONDS,
        disable_min_failures=MIN_FAILURES,
    )
    keeper = HealthKeeper(
        DestinationStore(aws.tables["DestinationsTable"]), policy, published.extend, runtime.audit_log()
    )
    keeper.record("ws_dev", created["id"], [gone], now=time.time(), at=iso_from_unix(time.time()))

    assert published == []  # no transition was made, so no notice either

    assert [(entry["actor"]["type"], entry["action"]) for entry in audit_log.entries(api)] == [
        ("api_key", "destination.disabled"),
        ("api_key", "destination.created"),
    ]


def test_other_destination_types_skip_notices_as_not_applicable(
    api: ApiClient, thresholds: Pipeline, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sink(segment_sink("seg_write_key_0123456789")) as segment:
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"segment": segment.url}))
        runtime.reset()
        body = {
            "name": "Segment",
            "type": "segment",
            "credentials": {"write_key": "seg_write_key_0123456789"},
            "actions": [
                {
                    "name": "Notices",
                    "action_type": "send_event",
                    "event_filter": {"include": {"event_types": list(NOTICE_EVENT_TYPES)}},
                }
            ],
        }
        created = api.post(BASE, body)
        assert created.status == 201, created.text
        segment_id = created.json()["destination"]["id"]
        watched_destinations(api, receivers)
        answer_always(receivers.failing_sink, 410)
        thresholds.publish(click())
        thresholds.run()

        assert segment.requests == []
        (logged,) = api.get(f"{BASE}/{segment_id}/deliveries").json()["deliveries"]
        assert logged["event_type"] == "destination.disabled"
        assert logged["status"] == "skipped" and logged["last_error_class"] == "not_applicable"
        assert [kind for kind, _ in notices(receivers.watcher)] == ["destination.disabled"]


def test_a_batch_of_successes_on_a_healthy_destination_with_a_recent_success_writes_no_health(
    api: ApiClient, pipeline: Pipeline, receivers: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = webhook(api, receivers.failing_sink.url)
    pipeline.publish(click())
    pipeline.run()
    before = destination(api, hook["id"])
    assert before["health"]["last_success_at"] and before["actions"][0]["health"]["last_success_at"]
    written: list[str] = []
    record_sent = DestinationStore.record_sent

    def noted(store: DestinationStore, workspace_id: str, destination_id: str, *args: Any, **kwargs: Any) -> Any:
        written.append(destination_id)
        return record_sent(store, workspace_id, destination_id, *args, **kwargs)

    monkeypatch.setattr(DestinationStore, "record_sent", noted)

    pipeline.publish(click(), click())
    pipeline.run()

    assert len(receivers.failing.verified) == 3
    assert written == []  # an UpdateItem costs the whole destination item: nothing it would show changed
    assert destination(api, hook["id"])["health"] == before["health"]


def test_a_last_success_a_minute_old_or_a_run_of_failures_read_at_the_batchs_start_is_written(
    api: ApiClient, aws: LocalStack
) -> None:
    body = {
        "name": "Two actions",
        "type": "generic_http",
        "credentials": {"url": "https://hooks.example.com/nimriz", "signing_secret": SECRET},
        "actions": [{"name": "A", "action_type": "send_webhook"}, {"name": "B", "action_type": "send_webhook"}],
    }
    created = api.post(BASE, body)
    assert created.status == 201, created.text
    hook = created.json()["destination"]
    first, second = (action["id"] for action in hook["actions"])
    store = DestinationStore(aws.tables["DestinationsTable"])
    policy = HealthPolicy(
        failing_after_failures=FAILING_AFTER, disable_after_seconds=3600, disable_min_failures=MIN_FAILURES
    )
    keeper = HealthKeeper(store, policy, lambda notices: None, runtime.audit_log())
    now = time.time()

    def record(*outcomes: SentOutcome, at: float) -> None:
        (read,) = store.states([("ws_dev", hook["id"])]).values()
        keeper.record("ws_dev", hook["id"], outcomes, now=at, at=iso_from_unix(at), read=read)

    record(SentOutcome(first, delivered=False, error_class="http_500"), at=now)
    record(SentOutcome(second, delivered=True), at=now + 1)  # ends the destination's run, not action A's
    assert destination(api, hook["id"])["actions"][0]["health"]["consecutive_failures"] == 1

    record(SentOutcome(first, delivered=True), at=now + 2)  # A's run, read at the start, is ended
    shown = destination(api, hook["id"])
    assert shown["actions"][0]["health"]["consecutive_failures"] == 0
    assert shown["actions"][0]["health"]["last_success_at"] == iso_from_unix(now + 2)

    record(SentOutcome(first, delivered=True), at=now + 30)  # nothing shown would change but the time
    assert destination(api, hook["id"])["actions"][0]["health"]["last_success_at"] == iso_from_unix(now + 2)

    record(SentOutcome(first, delivered=True), at=now + 62)  # a minute after the last written success
    shown = destination(api, hook["id"])
    assert shown["health"]["last_success_at"] == shown["actions"][0]["health"]["last_success_at"]
    assert shown["health"]["last_success_at"] == iso_from_unix(now + 62)
