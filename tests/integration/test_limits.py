"""Per-workspace request limits (issue 19 item 2, design §9.6): read and set by the admin API (audited), enforced
by usage plans (the gateway stand-in throttles as API Gateway does, from the plans the admin API writes), 429
RATE_LIMITED with Retry-After for the workspace over its limit only, the resolve route on a bucket of its own."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from nimriz_destinations.limits import DEFAULT_LIMITS, RESOLVE_LIMITS, usage_key_value
from tests.conftest import ApiClient
from tests.integration.test_interstitial_resolve import LINK, resolve
from tests.local.template import LocalStack

LIMITS = "/admin/workspaces/ws_dev/limits"
LIST = "/api/integrations/destinations"


def set_limits(admin_api: ApiClient, workspace: str = "ws_dev", **limits: int) -> dict[str, Any]:
    response = admin_api.put(f"/admin/workspaces/{workspace}/limits", limits)
    assert response.status == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def plans_of(workspace: str, aws: LocalStack) -> list[dict[str, Any]]:
    client = boto3.client("apigateway")
    value = usage_key_value(aws.stage, workspace)
    (key,) = [k for k in client.get_api_keys(includeValues=True)["items"] if k["value"] == value]
    return [dict(plan) for plan in client.get_usage_plans(keyId=key["id"])["items"]]


class TestAdminApi:
    def test_a_workspace_starts_with_the_documented_defaults(self, admin_api: ApiClient) -> None:
        response = admin_api.get(LIMITS)
        assert response.status == 200, response.text
        assert response.json() == {"limits": {"requests_per_second": 50, "burst": 100}}

    def test_put_sets_the_workspace_s_own_plan_and_is_audited_as_an_admin(
        self, api: ApiClient, admin_api: ApiClient, aws: LocalStack
    ) -> None:
        assert set_limits(admin_api, requests_per_second=5, burst=8) == {
            "limits": {"requests_per_second": 5, "burst": 8}
        }
        assert admin_api.get(LIMITS).json() == {"limits": {"requests_per_second": 5, "burst": 8}}
        (plan,) = plans_of("ws_dev", aws)
        assert plan["name"] == "nimriz-destinations-local-ws-ws_dev"
        assert plan["throttle"] == {"rateLimit": 5.0, "burstLimit": 8}
        entries = api.get("/api/integrations/audit-log").json()["audit_log"]
        (entry,) = [e for e in entries if e["action"] == "workspace.limits_updated"]
        assert entry["target"] == {"type": "workspace", "id": "ws_dev"}
        assert entry["actor"]["type"] == "admin" and entry["actor"]["id"].startswith("adm_")
        assert entry["changes"] == [
            {"path": "burst", "before": 100, "after": 8},
            {"path": "requests_per_second", "before": 50, "after": 5},
        ]
        # A second change updates the same plan.
        set_limits(admin_api, requests_per_second=7, burst=7)
        (plan,) = plans_of("ws_dev", aws)
        assert plan["throttle"] == {"rateLimit": 7.0, "burstLimit": 7}

    def test_setting_the_same_values_again_changes_and_audits_nothing(
        self, api: ApiClient, admin_api: ApiClient
    ) -> None:
        set_limits(admin_api, "ws_dev", **DEFAULT_LIMITS.as_dict())
        entries = api.get("/api/integrations/audit-log").json()["audit_log"]
        assert not [e for e in entries if e["action"] == "workspace.limits_updated"]

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"requests_per_second": 10},
            {"burst": 10},
            {"requests_per_second": 0, "burst": 10},
            {"requests_per_second": 10, "burst": 5},  # a bucket smaller than a second's refill
            {"requests_per_second": 501, "burst": 1000},
            {"requests_per_second": 10, "burst": 1001},
            {"requests_per_second": "10", "burst": 20},
            {"requests_per_second": 1.5, "burst": 20},
            {"requests_per_second": 10, "burst": 20, "quota": 3},
        ],
    )
    def test_a_body_outside_the_limits_is_refused(self, admin_api: ApiClient, body: dict[str, Any]) -> None:
        response = admin_api.put(LIMITS, body)
        assert response.status == 422, response.text
        assert admin_api.get(LIMITS).json() == {"limits": DEFAULT_LIMITS.as_dict()}

    def test_workspace_keys_cannot_read_or_set_limits(self, api: ApiClient) -> None:
        assert api.get(LIMITS).status == 403
        assert api.put(LIMITS, {"requests_per_second": 500, "burst": 1000}).status == 403

    def test_limits_are_per_workspace(self, admin_api: ApiClient) -> None:
        set_limits(admin_api, requests_per_second=3, burst=3)
        assert admin_api.get("/admin/workspaces/ws_other/limits").json() == {"limits": DEFAULT_LIMITS.as_dict()}


class TestThrottling:
    def test_a_workspace_s_first_request_puts_its_key_in_the_default_plan(
        self, api: ApiClient, aws: LocalStack
    ) -> None:
        assert api.get(LIST).status == 200
        (plan,) = plans_of("ws_dev", aws)
        assert plan["name"] == "nimriz-destinations-local-default"
        assert plan["throttle"] == {"rateLimit": 50.0, "burstLimit": 100}

    def test_over_its_limit_a_workspace_gets_429_rate_limited_and_another_is_unaffected(
        self, api: ApiClient, other_api: ApiClient, admin_api: ApiClient
    ) -> None:
        set_limits(admin_api, requests_per_second=1, burst=2)
        answers = [api.get(LIST) for _ in range(5)]
        assert [a.status for a in answers[:2]] == [200, 200]
        refused = [a for a in answers if a.status == 429]
        assert len(refused) >= 2
        for answer in refused:
            assert answer.header("Retry-After") == "1"
            error = answer.json()["error"]
            assert error["code"] == "RATE_LIMITED"
            assert set(error) == {"code", "message", "support_reference", "details"}
        assert [other_api.get(LIST).status for _ in range(5)] == [200] * 5

    def test_the_resolve_route_has_its_own_higher_bucket(self, api: ApiClient, admin_api: ApiClient) -> None:
        set_limits(admin_api, requests_per_second=1, burst=1)
        assert api.get(LIST).status == 200
        assert api.get(LIST).status == 429
        assert RESOLVE_LIMITS.burst > 10
        assert [resolve(api, LINK).status for _ in range(10)] == [200] * 10

    def test_the_public_interstitial_page_needs_no_key(self, api: ApiClient) -> None:
        response = api.get("/i/not-a-token")
        assert response.status not in (401, 403, 429, 503), response.text
