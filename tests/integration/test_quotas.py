"""Per-workspace quotas (issue 16 §8): what one workspace may configure is bounded, checked at every save (422
QUOTA_EXCEEDED naming the quota and its limit), read and set per workspace by the admin API (audited), and held by
fan-out at run time."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from nimriz_destinations.quotas import usage_of_all
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.destinations import DestinationStore
from nimriz_destinations.storage.keys import QUOTA_SK
from nimriz_destinations.storage.quotas import QuotaStore
from tests.conftest import ApiClient
from tests.factories import action_body, destination_body
from tests.local.template import LocalStack
from tests.pipeline import Pipeline

BASE = "/api/integrations/destinations"
QUOTAS = "/admin/workspaces/ws_dev/quotas"


def webhook(actions: int = 1, event_types: list[str] | None = None) -> dict[str, Any]:
    action_filter = {"include": {"event_types": event_types or []}}
    return destination_body(
        "generic_http",
        actions=[action_body("send_webhook", name=f"hook {n}", event_filter=action_filter) for n in range(actions)],
    )


def as_input(action: dict[str, Any]) -> dict[str, Any]:
    """An action as a PUT body takes it back."""
    fields = ("id", "name", "action_type", "enabled", "event_filter", "property_mapping")
    return copy.deepcopy({name: action[name] for name in fields})


def set_quotas(admin_api: ApiClient, **quotas: int) -> dict[str, Any]:
    response = admin_api.put(QUOTAS, quotas)
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_quota_exceeded(response: Any, quota: str, limit: int) -> None:
    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "QUOTA_EXCEEDED"
    (detail,) = error["details"]
    assert detail["path"] == f"quotas.{quota}"
    assert f"the limit is {limit} " in detail["reason"]


def stored_usage(aws: LocalStack) -> Any:
    return QuotaStore(aws.tables["DestinationsTable"]).read("ws_dev").usage


def counted_usage(aws: LocalStack) -> Any:
    return usage_of_all(DestinationStore(aws.tables["DestinationsTable"]).list_all("ws_dev"))


class TestAdminApi:
    def test_a_workspace_starts_with_the_documented_defaults(self, admin_api: ApiClient) -> None:
        response = admin_api.get(QUOTAS)
        assert response.status == 200, response.text
        assert response.json() == {"quotas": {"destinations": 50, "actions": 250, "deliveries_per_event": 100}}

    def test_put_changes_only_the_named_quotas_and_is_audited_as_an_admin(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        assert set_quotas(admin_api, actions=400) == {
            "quotas": {"destinations": 50, "actions": 400, "deliveries_per_event": 100}
        }
        assert admin_api.get(QUOTAS).json()["quotas"]["actions"] == 400
        entries = api.get("/api/integrations/audit-log").json()["audit_log"]
        (entry,) = [e for e in entries if e["action"] == "workspace.quotas_updated"]
        assert entry["target"] == {"type": "workspace", "id": "ws_dev"}
        assert entry["actor"]["type"] == "admin" and entry["actor"]["id"].startswith("adm_")
        assert entry["changes"] == [{"path": "actions", "before": 250, "after": 400}]

    def test_setting_the_same_values_again_changes_and_audits_nothing(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        set_quotas(admin_api, destinations=50)
        entries = api.get("/api/integrations/audit-log").json()["audit_log"]
        assert not [e for e in entries if e["action"] == "workspace.quotas_updated"]

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"destinations": 0},
            {"actions": -1},
            {"deliveries_per_event": 10_001},
            {"destinations": None},
            {"destinations": "5"},
            {"destinations": 1.5},
            {"seats": 3},
        ],
    )
    def test_a_body_that_sets_nothing_valid_is_refused(self, admin_api: ApiClient, body: dict[str, Any]) -> None:
        response = admin_api.put(QUOTAS, body)
        assert response.status == 422, response.text
        assert admin_api.get(QUOTAS).json()["quotas"]["destinations"] == 50

    def test_workspace_keys_cannot_read_or_set_quotas(self, api: ApiClient) -> None:
        assert api.get(QUOTAS).status == 403
        assert api.put(QUOTAS, {"destinations": 1000}).status == 403

    def test_quotas_are_per_workspace(self, admin_api: ApiClient) -> None:
        set_quotas(admin_api, destinations=3)
        assert admin_api.get("/admin/workspaces/ws_other/quotas").json()["quotas"]["destinations"] == 50


class TestSavesWithinQuotas:
    def test_twenty_destinations_of_fifty_actions_stop_at_the_actions_and_per_event_quotas(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        # The finding: 20 x 50 actions matching everything were accepted, and one event became 1,000 requests.
        statuses = [api.post(BASE, webhook(actions=50)).status for _ in range(20)]
        assert statuses[:2] == [201, 201]
        refused = api.post(BASE, webhook(actions=50))
        assert_quota_exceeded(refused, "deliveries_per_event", 100)
        assert "one link.clicked event would fan out to 150" in refused.json()["error"]["details"][0]["reason"]
        assert statuses.count(201) == 2

        # Actions that never share an event are bounded by the actions quota instead.
        set_quotas(admin_api, deliveries_per_event=10_000)
        accepted = [api.post(BASE, webhook(actions=50)).status for _ in range(3)]
        assert accepted == [201, 201, 201]  # 250 actions
        assert_quota_exceeded(api.post(BASE, webhook(actions=1)), "actions", 250)

    def test_the_destinations_quota_refuses_the_one_too_many_and_a_delete_frees_a_place(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        set_quotas(admin_api, destinations=2)
        first = api.post(BASE, webhook()).json()["destination"]["id"]
        assert api.post(BASE, webhook()).status == 201
        assert_quota_exceeded(api.post(BASE, webhook()), "destinations", 2)
        assert api.delete(f"{BASE}/{first}").status == 204
        assert api.post(BASE, webhook()).status == 201

    def test_an_update_is_refused_only_for_what_it_adds(self, api: ApiClient, admin_api: ApiClient) -> None:
        created = api.post(BASE, webhook(actions=3)).json()["destination"]
        set_quotas(admin_api, actions=2)  # lowered below what the workspace has
        keep = {
            "name": "renamed",
            "actions": [{"id": a["id"], **action_body("send_webhook")} for a in created["actions"]],
        }
        assert api.put(f"{BASE}/{created['id']}", keep).status == 200
        fewer = {"name": "fewer", "actions": keep["actions"][:1]}
        assert api.put(f"{BASE}/{created['id']}", fewer).status == 200
        more = {
            "name": "more",
            "actions": [*fewer["actions"], action_body("send_webhook"), action_body("send_webhook")],
        }
        assert_quota_exceeded(api.put(f"{BASE}/{created['id']}", more), "actions", 2)

    def test_narrowing_a_filter_frees_deliveries_per_event_for_other_types(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        set_quotas(admin_api, deliveries_per_event=2)
        assert api.post(BASE, webhook(actions=2, event_types=["link.clicked", "link.qr_scanned"])).status == 201
        assert_quota_exceeded(api.post(BASE, webhook(event_types=["link.qr_scanned"])), "deliveries_per_event", 2)
        # Conversions reach nobody yet; notices are opt-in, so listing them is what counts.
        assert api.post(BASE, destination_body("meta")).status == 201
        for _ in range(2):
            assert api.post(BASE, webhook(event_types=["destination.failing"])).status == 201
        assert_quota_exceeded(api.post(BASE, webhook(event_types=["destination.failing"])), "deliveries_per_event", 2)

    def test_the_usage_stays_exactly_what_the_destinations_add_up_to(self, api: ApiClient, aws: LocalStack) -> None:
        ids = [api.post(BASE, webhook(actions=n + 1)).json()["destination"]["id"] for n in range(3)]
        current = api.get(f"{BASE}/{ids[1]}").json()["destination"]
        narrowed = [as_input(current["actions"][0])]
        narrowed[0]["event_filter"] = {"include": {"event_types": ["conversion.sale"]}}
        assert api.put(f"{BASE}/{ids[1]}", {"name": "x", "actions": narrowed}).status == 200
        assert api.delete(f"{BASE}/{ids[2]}").status == 204
        moved = [as_input(action) for action in current["actions"]]
        for action in moved:  # ids of another destination's actions: these are new actions here
            del action["id"]
        assert api.put(f"{BASE}/{ids[0]}", {"name": "y", "enabled": False, "actions": moved}).status == 200
        assert stored_usage(aws) == counted_usage(aws)
        assert stored_usage(aws).actions == 3

    def test_concurrent_creates_never_pass_the_quota_together(self, api: ApiClient, admin_api: ApiClient) -> None:
        set_quotas(admin_api, destinations=3)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: api.post(BASE, webhook()).status, range(8)))
        assert statuses.count(201) == 3, statuses
        assert len(api.get(f"{BASE}?limit=100").json()["destinations"]) == 3

    def test_destinations_stored_before_usage_was_counted_are_counted_on_the_next_save(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        for _ in range(2):
            assert api.post(BASE, webhook()).status == 201
        # As a workspace that existed before quotas: no usage on record.
        boto3.client("dynamodb").update_item(
            TableName=aws.tables["DestinationsTable"],
            Key={"PK": {"S": "WS#ws_dev"}, "SK": {"S": QUOTA_SK}},
            UpdateExpression="REMOVE used_destinations, used_actions, used_per_type",
        )
        set_quotas(admin_api, destinations=2)
        assert_quota_exceeded(api.post(BASE, webhook()), "destinations", 2)
        assert stored_usage(aws) == counted_usage(aws)


class TestFanOut:
    def test_fan_out_queues_at_most_the_deliveries_per_event_quota_when_it_was_lowered_later(
        self, api: ApiClient, admin_api: ApiClient, pipeline: Pipeline
    ) -> None:
        assert api.post(BASE, webhook(actions=5, event_types=["link.clicked"])).status == 201
        set_quotas(admin_api, deliveries_per_event=3)
        pipeline.publish(sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev"))
        assert pipeline.poll("FanOutFunction") == 1
        queued = pipeline.sqs.get_queue_attributes(
            QueueUrl=pipeline.stack.queue_urls["DeliveriesQueue"], AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert int(queued) == 3
