"""API Gateway's usage plans and API keys, as the request limits use them (design §9.6).

Every call here is on API Gateway's control plane, whose rates are low and fixed (CreateApiKey: 5 requests per
second per account, API Gateway quotas): the authorizer comes here once per workspace, when its key is first made.
"""

from __future__ import annotations

import contextlib
from functools import cached_property
from typing import Any

from .. import aws
from ..limits import RESOLVE_LIMITS, RESOLVE_METHOD, Limits, default_plan_name, workspace_plan_name


class UsagePlans:
    def __init__(self, stage: str) -> None:
        self._stage = stage

    @cached_property
    def _default_plan(self) -> dict[str, Any]:
        name = default_plan_name(self._stage)
        for page in aws.apigateway().get_paginator("get_usage_plans").paginate():
            for plan in page.get("items", []):
                if plan.get("name") == name:
                    return dict(plan)
        raise LookupError(f"no usage plan named {name}: deploy template.yaml's DefaultUsagePlan")

    def add_key(self, name: str, value: str) -> str:
        """The id of the API key `value` (made now unless it exists), in the default plan unless it is in one
        already; safe to repeat, and to run concurrently."""
        client = aws.apigateway()
        try:
            key_id = client.create_api_key(name=name, value=value, enabled=True)["id"]
        except client.exceptions.ConflictException:  # made by a concurrent request, or before a failure
            key_id = self._key_id(name, value)
        if not client.get_usage_plans(keyId=key_id).get("items"):
            with contextlib.suppress(client.exceptions.ConflictException):  # added concurrently
                client.create_usage_plan_key(usagePlanId=self._default_plan["id"], keyId=key_id, keyType="API_KEY")
        return key_id

    def _key_id(self, name: str, value: str) -> str:
        client = aws.apigateway()
        for page in client.get_paginator("get_api_keys").paginate(nameQuery=name, includeValues=True):
            for key in page.get("items", []):
                if key.get("value") == value:
                    return str(key["id"])
        raise LookupError(f"API key {name} exists but was not found by its name")

    def limits(self, plan_id: str) -> Limits:
        throttle = aws.apigateway().get_usage_plan(usagePlanId=plan_id)["throttle"]
        return Limits(requests_per_second=int(throttle["rateLimit"]), burst=int(throttle["burstLimit"]))

    def create_plan(self, workspace_id: str, limits: Limits) -> str:
        """A plan of the workspace's own on the default plan's API stage, the resolve route's throttle as there."""
        resolve = {"rateLimit": float(RESOLVE_LIMITS.requests_per_second), "burstLimit": RESOLVE_LIMITS.burst}
        stages = [
            {"apiId": stage["apiId"], "stage": stage["stage"], "throttle": {RESOLVE_METHOD: resolve}}
            for stage in self._default_plan["apiStages"]
        ]
        plan = aws.apigateway().create_usage_plan(
            name=workspace_plan_name(self._stage, workspace_id),
            description=f"Request limits of workspace {workspace_id} (admin API)",
            apiStages=stages,  # type: ignore[arg-type]
            throttle={"rateLimit": float(limits.requests_per_second), "burstLimit": limits.burst},
        )
        return str(plan["id"])

    def set_limits(self, plan_id: str, limits: Limits) -> None:
        aws.apigateway().update_usage_plan(
            usagePlanId=plan_id,
            patchOperations=[
                {"op": "replace", "path": "/throttle/rateLimit", "value": str(limits.requests_per_second)},
                {"op": "replace", "path": "/throttle/burstLimit", "value": str(limits.burst)},
            ],
        )

    def move_key_from_default(self, key_id: str, plan_id: str) -> None:
        """Put the key in `plan_id` instead of the default plan. A key is in at most one plan per API stage, so it
        leaves the default plan first: its requests answer 503 for the moment between the two calls (the gateway
        response INVALID_API_KEY). Safe to repeat after a failure."""
        client = aws.apigateway()
        with contextlib.suppress(client.exceptions.NotFoundException):  # left it in an earlier attempt
            client.delete_usage_plan_key(usagePlanId=self._default_plan["id"], keyId=key_id)
        with contextlib.suppress(client.exceptions.ConflictException):  # moved in an earlier attempt
            client.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
