"""GA4 and GTM server-side: names a mapping's overrides produce are checked when the action is saved (create, update,
preview of an unsaved destination): GA4 answers 2xx and drops events and params whose names break its rules, so a
save that would make one answers 422 naming the override and the rule (providers/ga4_names.py)."""

from __future__ import annotations

from typing import Any

import pytest

from nimriz_destinations.mapping import PropertyMapping
from nimriz_destinations.providers.ga4_names import RULES_URL, name_problems
from tests.conftest import ApiClient
from tests.e2e.providers import PROVIDERS

BASE = "/api/integrations/destinations"


def body(destination_type: str, overrides: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "GA4",
        "type": destination_type,
        "credentials": PROVIDERS[destination_type].credentials,
        "actions": [{"name": "Events", "action_type": "send_event", "property_mapping": {"overrides": overrides}}],
    }


def details(response: Any) -> dict[str, str]:
    assert response.status == 422, response.text
    return {detail["path"]: detail["reason"] for detail in response.json()["error"]["details"]}


@pytest.mark.parametrize("destination_type", ["ga4", "gtm_server_side"])
def test_an_override_making_an_invalid_param_name_is_refused_at_create_naming_it_and_the_rule(
    api: ApiClient, destination_type: str
) -> None:
    overrides = [
        {"type": "static", "to": "params.campaign", "value": "spring"},
        {"type": "include", "field": "utm.source", "to": "params.utm-source"},
    ]
    found = details(api.post(BASE, body(destination_type, overrides)))
    (reason,) = found.values()
    assert list(found) == ["actions[0].property_mapping.overrides[1].to"]
    assert "'utm-source'" in reason and "letters, digits and underscores" in reason and RULES_URL in reason


def test_a_reserved_event_name_is_refused_at_update(api: ApiClient) -> None:
    created = api.post(BASE, body("ga4", []))
    assert created.status == 201, created.text
    destination = created.json()["destination"]
    update = body("ga4", [{"type": "static", "to": "name", "value": "page_view"}])
    found = details(api.put(f"{BASE}/{destination['id']}", update))
    assert "reserved GA4 event name" in found["actions[0].property_mapping.overrides[0].value"]


def test_a_preview_of_an_unsaved_destination_refuses_a_reserved_param_prefix(api: ApiClient) -> None:
    overrides = [{"type": "static", "to": "params", "value": {"ok_param": 1, "ga_session": 2}}]
    found = details(api.post(f"{BASE}/preview", {"destination": body("gtm_server_side", overrides), "event": None}))
    assert "reserved prefix 'ga_'" in found["actions[0].property_mapping.overrides[0].value"]


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ({"type": "template", "to": "name", "template": "nimriz-{{link.short_code}}"}, "template"),
        ({"type": "template", "to": "name", "template": "1st_{{link.short_code}}"}, "template"),
        ({"type": "static", "to": "name", "value": "_internal"}, "value"),
        ({"type": "rename", "from": "params.link_id", "to": "user_properties.user_id"}, "to"),
        ({"type": "static", "to": "user_properties.google_ads_id", "value": "x"}, "to"),
    ],
)
def test_names_ga4_would_drop_are_found_in_every_kind_of_override(override: dict[str, Any], where: str) -> None:
    (problem,) = name_problems(PropertyMapping.model_validate({"overrides": [override]}))
    assert problem[0] == f"overrides[0].{where}"


@pytest.mark.parametrize(
    "override",
    [
        {"type": "template", "to": "name", "template": "nimriz_{{link.short_code}}"},
        {"type": "static", "to": "name", "value": "spring_campaign_click"},
        {"type": "include", "field": "utm.source", "to": "params.utm_source"},
        {"type": "rename", "from": "params.link_id", "to": "params.link_code"},
        {"type": "exclude", "field": "params.link_id"},
    ],
)
def test_names_within_ga4s_rules_pass(override: dict[str, Any]) -> None:
    assert name_problems(PropertyMapping.model_validate({"overrides": [override]})) == []
