"""Support without customers' keys (issue 19 §3): the admin API lists failing and disabled destinations across
workspaces, shows a destination, its deliveries and dead letters as the workspace API does, and replays, enables
and recovers on the customer's behalf, each change audited in the customer's audit log as the operator's opaque id.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.clock import utc_now
from nimriz_destinations.storage.destinations import DestinationStore, SentTally
from tests.aws_usage import AwsMeter
from tests.conftest import ApiClient
from tests.factories import destination_body
from tests.integration.test_delivery_pipeline import click, receiver, webhook_destination
from tests.integration.test_parked_events import park_dead_letters
from tests.integration.test_quotas import as_input
from tests.local.apigw import LOCAL_ADMIN_ARN
from tests.local.template import LocalStack
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkResponse

__all__ = ["receiver"]  # a fixture, shared with the delivery pipeline tests

BASE = "/api/integrations/destinations"
ADMIN_LIST = "/admin/destinations"
FAILING_AFTER = 3  # HEALTH_FAILING_AFTER_FAILURES's default


def admin_path(workspace_id: str, destination_id: str, suffix: str = "") -> str:
    return f"/admin/workspaces/{workspace_id}/destinations/{destination_id}{suffix}"


def store(aws: LocalStack) -> DestinationStore:
    return DestinationStore(aws.tables["DestinationsTable"])


def create(api: ApiClient, name: str) -> dict[str, Any]:
    response = api.post(BASE, destination_body("segment", name=name))
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def make_failing(aws: LocalStack, destination: dict[str, Any]) -> None:
    """What the dispatcher does after a run of failed attempts: counts them, then marks the destination failing."""
    now = utc_now()
    action_id = destination["actions"][0]["id"]
    failures = {action_id: SentTally(delivered=0, failed=FAILING_AFTER)}
    store(aws).record_sent(destination["workspace_id"], destination["id"], failures, at=now)
    assert store(aws).mark_failing(
        destination["workspace_id"], destination["id"], None, at=now, threshold=FAILING_AFTER
    )


def make_disabled(aws: LocalStack, destination: dict[str, Any]) -> None:
    disabled = store(aws).auto_disable(
        destination["workspace_id"], destination["id"], reason="endpoint_gone", at=utc_now()
    )
    assert disabled is not None


def listed(admin_api: ApiClient, query: str) -> dict[str, Any]:
    response = admin_api.get(f"{ADMIN_LIST}?{query}")
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def as_listed(shown: dict[str, Any]) -> dict[str, Any]:
    """A destination as the workspace API shows it, cut to what the cross-workspace list answers."""
    return {name: shown[name] for name in ("workspace_id", "id", "name", "type", "enabled", "health")}


def shown_to(api: ApiClient, destination_id: str) -> dict[str, Any]:
    response = api.get(f"{BASE}/{destination_id}")
    assert response.status == 200, response.text
    shown: dict[str, Any] = response.json()["destination"]
    return shown


def audit_log(api: ApiClient) -> list[dict[str, Any]]:
    response = api.get("/api/integrations/audit-log?limit=100")
    assert response.status == 200, response.text
    entries: list[dict[str, Any]] = response.json()["audit_log"]
    return entries


def assert_audited_as_an_admin(entry: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    assert entry["actor"]["type"] == "admin" and entry["actor"]["id"].startswith("adm_")
    text = json.dumps(entries)
    assert LOCAL_ADMIN_ARN not in text and "arn:" not in text  # the operator's AWS identity never reaches tenants


class TestListingAcrossWorkspaces:
    def test_failing_and_disabled_destinations_of_every_workspace_are_listed_as_their_workspace_shows_them(
        self, api: ApiClient, other_api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        failing = create(api, "Failing")
        create(api, "Healthy")
        disabled = create(other_api, "Disabled")
        make_failing(aws, failing)
        make_disabled(aws, disabled)

        assert listed(admin_api, "health=failing") == {
            "destinations": [as_listed(shown_to(api, failing["id"]))],
            "next_cursor": None,
        }
        (entry,) = listed(admin_api, "health=disabled")["destinations"]
        assert entry == as_listed(shown_to(other_api, disabled["id"]))
        assert entry["workspace_id"] == "ws_other" and entry["enabled"] is False
        assert entry["health"]["state"] == "disabled" and entry["health"]["disabled_reason"] == "endpoint_gone"

    def test_a_destination_that_recovers_or_is_re_enabled_leaves_the_list(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        failing, disabled = create(api, "Failing"), create(api, "Disabled")
        make_failing(aws, failing)
        make_disabled(aws, disabled)
        success = {failing["actions"][0]["id"]: SentTally(delivered=1, failed=0)}
        store(aws).record_sent("ws_dev", failing["id"], success, at=utc_now())
        assert store(aws).mark_recovered("ws_dev", failing["id"], None, at=utc_now(), threshold=FAILING_AFTER)
        assert admin_api.post(admin_path("ws_dev", disabled["id"], "/enable")).status == 200

        assert listed(admin_api, "health=failing")["destinations"] == []
        assert listed(admin_api, "health=disabled")["destinations"] == []

    def test_every_page_but_the_last_holds_limit_destinations_and_each_is_listed_once(
        self, api: ApiClient, other_api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        failing = [create(api, f"Failing {n}") for n in range(3)] + [
            create(other_api, f"Failing {n}") for n in range(2)
        ]
        create(api, "Healthy")
        for destination in failing:
            make_failing(aws, destination)

        pages, cursor = [], ""
        while True:
            page = listed(admin_api, f"health=failing&limit=2{cursor and f'&cursor={cursor}'}")
            pages.append([(d["workspace_id"], d["id"]) for d in page["destinations"]])
            if not page["next_cursor"]:
                break
            cursor = page["next_cursor"]
        assert [len(page) for page in pages] == [2, 2, 1]
        seen = [key for page in pages for key in page]
        assert sorted(seen) == sorted((d["workspace_id"], d["id"]) for d in failing)

    def test_a_cursor_continues_only_the_list_it_came_from(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        for n in range(2):
            make_failing(aws, create(api, f"Failing {n}"))
        cursor = listed(admin_api, "health=failing&limit=1")["next_cursor"]
        assert cursor

        for query in (f"health=disabled&cursor={cursor}", "health=failing&cursor=bm90LWEtY3Vyc29y"):
            response = admin_api.get(f"{ADMIN_LIST}?{query}")
            assert response.status == 400, (query, response.text)
            assert response.json()["error"]["code"] == "INVALID_CURSOR"

    @pytest.mark.parametrize("query", ["", "health=healthy", "health=failing&limit=0", "health=failing&limit=101"])
    def test_the_list_needs_a_health_of_failing_or_disabled_and_a_limit_of_1_to_100(
        self, admin_api: ApiClient, query: str
    ) -> None:
        response = admin_api.get(f"{ADMIN_LIST}?{query}")
        assert response.status == 422, response.text
        assert response.json()["error"]["code"] == "VALIDATION_FAILED"

    def test_listing_reads_as_much_with_forty_more_healthy_destinations(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        for n in range(2):
            make_failing(aws, create(api, f"Failing {n}"))

        def read_units_of_listing() -> tuple[float, list[str]]:
            with AwsMeter().installed() as meter:
                runtime.reset()  # the project's clients again, metered
                assert len(listed(admin_api, "health=failing")["destinations"]) == 2
            runtime.reset()
            return sum(call.read_units for call in meter.calls), [call.name for call in meter.calls]

        before = read_units_of_listing()
        for n in range(40):
            create(api, f"Healthy {n}")
        assert read_units_of_listing() == before
        assert before[1] == ["dynamodb.Query", "dynamodb.BatchGetItem"]


class TestOneDestination:
    def test_the_destination_its_deliveries_and_dead_letters_answer_as_the_workspace_routes(
        self, api: ApiClient, admin_api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
    ) -> None:
        sink, _ = receiver
        destination = webhook_destination(api, sink.url)
        sink.script.append(SinkResponse(400, {"error": "refused"}))
        pipeline.publish(click(), click())
        pipeline.run()

        for suffix, query in [
            ("", ""),
            ("/deliveries", ""),
            ("/deliveries", "?status=dead_lettered&limit=1"),
            ("/deliveries", "?status=delivered"),
            ("/dead-letters", "?limit=1"),
        ]:
            customer = api.get(f"{BASE}/{destination['id']}{suffix}{query}")
            support = admin_api.get(admin_path("ws_dev", destination["id"], suffix) + query)
            assert customer.status == support.status == 200, (suffix, support.text)
            assert support.json() == customer.json(), suffix
            assert support.header("ETag") == customer.header("ETag")
        assert len(admin_api.get(admin_path("ws_dev", destination["id"], "/dead-letters")).json()["dead_letters"]) == 1

    def test_a_destination_is_not_reachable_under_another_workspace_s_path(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        destination = create(api, "Customer A's")
        make_disabled(aws, destination)

        for method, suffix in [
            ("GET", ""),
            ("GET", "/deliveries"),
            ("GET", "/dead-letters"),
            ("POST", "/dead-letters/replay"),
            ("POST", "/enable"),
        ]:
            response = admin_api.request(
                method, admin_path("ws_other", destination["id"], suffix), {} if method == "POST" else None
            )
            assert response.status == 404, (method, suffix, response.text)
            assert response.json()["error"]["code"] == "DESTINATION_NOT_FOUND"
        assert shown_to(api, destination["id"])["enabled"] is False

    def test_workspace_keys_are_refused_on_every_support_route(self, api: ApiClient) -> None:
        destination = create(api, "Mine")
        for method, path in [
            ("GET", f"{ADMIN_LIST}?health=failing"),
            ("GET", admin_path("ws_dev", destination["id"])),
            ("GET", admin_path("ws_dev", destination["id"], "/deliveries")),
            ("GET", admin_path("ws_dev", destination["id"], "/dead-letters")),
            ("POST", admin_path("ws_dev", destination["id"], "/dead-letters/replay")),
            ("POST", admin_path("ws_dev", destination["id"], "/enable")),
            ("GET", "/admin/workspaces/ws_dev/parked-events"),
            ("POST", "/admin/workspaces/ws_dev/parked-events/recover"),
            ("GET", "/admin/workspaces/ws_dev/audit-log"),
        ]:
            response = api.request(method, path, {} if method == "POST" else None)
            assert response.status == 403, (method, path, response.text)


class TestActingForTheCustomer:
    def test_replay_answers_as_the_workspace_route_and_is_audited_as_the_operator(
        self, api: ApiClient, admin_api: ApiClient, pipeline: Pipeline, receiver: tuple[Sink, Any]
    ) -> None:
        sink, handler = receiver
        destination = webhook_destination(api, sink.url)
        sink.script.extend([SinkResponse(400, {"error": "refused"})] * 2)
        events = [click(), click()]
        pipeline.publish(*events)
        pipeline.run()
        letters = admin_api.get(admin_path("ws_dev", destination["id"], "/dead-letters")).json()["dead_letters"]
        assert len(letters) == 2

        response = admin_api.post(admin_path("ws_dev", destination["id"], "/dead-letters/replay"), {})
        assert response.status == 202, response.text
        replayed = response.json()["replayed"]
        assert sorted(r["dead_letter_id"] for r in replayed) == sorted(letter["id"] for letter in letters)
        assert set(replayed[0]) == {"dead_letter_id", "delivery_id", "event_id", "action_id"}
        pipeline.run()
        assert sorted(d.event_id for d in handler.verified) == sorted(e["id"] for e in events)
        assert {d.reason for d in handler.verified} == {"replay"}
        assert api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"] == []

        entries = audit_log(api)
        (entry,) = [e for e in entries if e["action"] == "dead_letters.replayed"]
        assert entry["target"] == {"type": "destination", "id": destination["id"]}
        assert sorted(change["path"] for change in entry["changes"]) == sorted(
            f"dead_letters[{letter['id']}]" for letter in letters
        )
        assert {(c["before"], c["after"]) for c in entry["changes"]} == {("dead_lettered", "replayed")}
        assert_audited_as_an_admin(entry, entries)

    def test_replaying_named_ids_takes_the_workspace_route_s_body_and_refuses_unknown_ids_alike(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        destination = create(api, "No dead letters")
        body = {"ids": ["00000000-0000-7000-8000-000000000000"]}
        customer = api.post(f"{BASE}/{destination['id']}/dead-letters/replay", body)
        support = admin_api.post(admin_path("ws_dev", destination["id"], "/dead-letters/replay"), body)
        assert customer.status == support.status == 422
        assert support.json()["error"]["details"] == customer.json()["error"]["details"]
        assert [e for e in audit_log(api) if e["action"] == "dead_letters.replayed"] == []

    def test_enable_answers_as_a_put_that_enables_and_is_audited_as_the_operator(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        by_support, by_customer = create(api, "Enabled by support"), create(api, "Enabled by its workspace")
        for destination in (by_support, by_customer):
            make_failing(aws, destination)
            make_disabled(aws, destination)

        support = admin_api.post(admin_path("ws_dev", by_support["id"], "/enable"))
        current = shown_to(api, by_customer["id"])
        put_body = {"name": current["name"], "enabled": True, "actions": [as_input(a) for a in current["actions"]]}
        customer = api.put(f"{BASE}/{by_customer['id']}", put_body)

        assert support.status == customer.status == 200, support.text
        assert support.json() == {"destination": shown_to(api, by_support["id"])}
        assert support.header("ETag") == f'"v{support.json()["destination"]["version"]}"'
        enabled, put = support.json()["destination"], customer.json()["destination"]
        assert enabled["enabled"] is put["enabled"] is True
        assert enabled["health"]["state"] == put["health"]["state"] == "healthy"
        assert enabled["health"]["consecutive_failures"] == put["health"]["consecutive_failures"] == 0
        assert enabled["version"] == put["version"]

        entries = audit_log(api)
        (entry,) = [
            e for e in entries if e["action"] == "destination.enabled" and e["target"]["id"] == by_support["id"]
        ]
        assert entry["changes"] == [{"path": "enabled", "before": False, "after": True}]
        assert_audited_as_an_admin(entry, entries)

    def test_enabling_an_enabled_destination_answers_it_and_changes_nothing(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        destination = create(api, "Already on")
        response = admin_api.post(admin_path("ws_dev", destination["id"], "/enable"))
        assert response.status == 200, response.text
        assert response.json() == {"destination": shown_to(api, destination["id"])}
        assert response.json()["destination"]["version"] == destination["version"]
        assert [e for e in audit_log(api) if e["action"] == "destination.enabled"] == []

    def test_parked_events_are_listed_and_recovered_for_the_customer_audited_as_the_operator(
        self, api: ApiClient, admin_api: ApiClient, pipeline: Pipeline
    ) -> None:
        teleported = click(type="link.teleported")
        pipeline.publish(teleported)
        pipeline.run()
        park_dead_letters(pipeline)
        parked = "/admin/workspaces/ws_dev/parked-events"

        customer = api.get("/api/integrations/parked-events")
        support = admin_api.get(parked)
        assert support.status == 200 and support.json() == customer.json()
        (event,) = support.json()["parked_events"]
        assert admin_api.get("/admin/workspaces/ws_other/parked-events").json()["parked_events"] == []

        response = admin_api.post(f"{parked}/recover", {})
        assert response.status == 202, response.text
        assert response.json() == {"recovered": [{"id": event["id"], "event_id": teleported["id"]}]}
        assert api.get("/api/integrations/parked-events").json()["parked_events"] == []

        entries = audit_log(api)
        (entry,) = [e for e in entries if e["action"] == "parked_events.recovered"]
        assert entry["target"] == {"type": "workspace", "id": "ws_dev"}
        assert entry["changes"] == [{"path": f"parked_events[{event['id']}]", "before": "parked", "after": "recovered"}]
        assert_audited_as_an_admin(entry, entries)


class TestReadingTheAuditLog:
    def test_support_reads_a_workspaces_audit_log_as_the_workspace_does_and_only_that_workspaces(
        self, api: ApiClient, other_api: ApiClient, admin_api: ApiClient
    ) -> None:
        create(api, "Mine")
        create(other_api, "Theirs")
        support = admin_api.get("/admin/workspaces/ws_dev/audit-log?limit=100")
        assert support.status == 200, support.text
        assert support.json() == api.get("/api/integrations/audit-log?limit=100").json()
        assert [e["action"] for e in support.json()["audit_log"]] == ["destination.created"]
        first = admin_api.get("/admin/workspaces/ws_dev/audit-log?limit=1")
        assert first.json() == api.get("/api/integrations/audit-log?limit=1").json()
        assert admin_api.get("/admin/workspaces/ws_nobody/audit-log").json() == {"audit_log": [], "next_cursor": None}
        assert admin_api.get("/admin/workspaces/ws_dev/audit-log?limit=0").status == 422
