"""GET …/destinations/{id}/estimate in-process: fan-out evaluates disabled actions and destinations too (nothing is
queued for them) and counts their matches, so an action's estimate shows what it would send before it is enabled."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations import runtime
from tests.aws_usage import AwsMeter
from tests.conftest import ApiClient
from tests.integration.test_destination_metrics import event
from tests.pipeline import Pipeline
from tests.sinks.server import Sink, SinkResponse

BASE = "/api/integrations/destinations"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(lambda request: SinkResponse(200, {"ok": True})) as running:
        yield running


def webhook(api: ApiClient, url: str, *, enabled: bool = True, scans_enabled: bool = False) -> dict[str, Any]:
    body = {
        "name": "Hook",
        "type": "generic_http",
        "enabled": enabled,
        "credentials": {"url": url},
        "actions": [
            {
                "name": name,
                "action_type": "send_webhook",
                "enabled": action_enabled,
                "event_filter": {"include": {"event_types": [event_type]}},
            }
            for name, event_type, action_enabled in (
                ("Clicks", "link.clicked", True),
                ("Scans", "link.qr_scanned", scans_enabled),
            )
        ],
    }
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    created: dict[str, Any] = response.json()["destination"]
    return created


def estimate(api: ApiClient, destination_id: str, window: str = "24h") -> dict[str, Any]:
    response = api.get(f"{BASE}/{destination_id}/estimate?window={window}")
    assert response.status == 200, response.text
    found: dict[str, Any] = response.json()["estimate"]
    return found


def matched(shown: dict[str, Any]) -> list[tuple[bool, int]]:
    return [(entry["enabled"], entry["matched"]) for entry in shown["actions"]]


def test_a_disabled_action_is_counted_but_sends_nothing(api: ApiClient, pipeline: Pipeline, sink: Sink) -> None:
    destination = webhook(api, sink.url)
    pipeline.publish(*(event("link.clicked") for _ in range(3)), *(event("link.qr_scanned") for _ in range(2)))
    pipeline.run()
    assert len(sink.requests) == 3  # the clicks only
    for window in ("1h", "24h", "7d"):
        shown = estimate(api, destination["id"], window)
        assert shown["window"] == window
        assert [entry["action_id"] for entry in shown["actions"]] == [a["id"] for a in destination["actions"]]
        assert matched(shown) == [(True, 3), (False, 2)]
    # The metrics route keeps counting what was queued: nothing for the disabled action.
    metrics = api.get(f"{BASE}/{destination['id']}/metrics?window=1h").json()["metrics"]
    assert [entry["matched"] for entry in metrics["actions"]] == [3, 0]


def test_a_disabled_destination_s_actions_are_counted_and_nothing_is_queued(
    api: ApiClient, pipeline: Pipeline, sink: Sink
) -> None:
    destination = webhook(api, sink.url, enabled=False, scans_enabled=True)
    pipeline.publish(event("link.clicked"), event("link.qr_scanned"), event("link.qr_scanned"))
    pipeline.run()
    assert sink.requests == []
    assert api.get(f"{BASE}/{destination['id']}/deliveries").json()["deliveries"] == []
    assert matched(estimate(api, destination["id"])) == [(True, 1), (True, 2)]


def test_enabled_and_disabled_matches_of_one_action_add_up(api: ApiClient, pipeline: Pipeline, sink: Sink) -> None:
    destination = webhook(api, sink.url)
    pipeline.publish(event("link.qr_scanned"))
    pipeline.run()
    kept = ("id", "name", "action_type", "event_filter")
    actions = [{**{name: action[name] for name in kept}, "enabled": True} for action in destination["actions"]]
    update = {"name": "Hook", "actions": actions}
    assert api.put(f"{BASE}/{destination['id']}", update).status == 200, "enable the scans"
    runtime.reset()  # fan-out's configuration cache (CONFIG_CACHE_SECONDS) sees the change at once
    pipeline.publish(event("link.qr_scanned"))
    pipeline.run()
    assert len(sink.requests) == 1
    assert matched(estimate(api, destination["id"])) == [(True, 0), (True, 2)]


def test_the_daily_rate_of_a_new_action_is_taken_over_at_least_an_hour(api: ApiClient, sink: Sink) -> None:
    destination = webhook(api, sink.url)
    routings = [runtime.fan_out().route(event("link.qr_scanned")) for _ in range(12)]
    runtime.fan_out().count(routings)
    for window in ("1h", "24h", "7d"):
        scans = estimate(api, destination["id"], window)["actions"][1]
        assert (scans["matched"], scans["matched_per_day"]) == (12, 288.0)


def test_a_disabled_action_costs_one_counter_update_per_batch_and_its_rejections_none(
    api: ApiClient, sink: Sink
) -> None:
    webhook(api, sink.url, enabled=False)  # both actions disabled: clicks by its destination, scans by itself too
    with AwsMeter().installed() as meter:
        runtime.reset()  # the project's clients again, metered
        for event_type in ("link.qr_scanned", "link.clicked"):
            routings = [runtime.fan_out().route(event(event_type)) for _ in range(10)]
            assert [routing.jobs for routing in routings] == [[]] * 10
            meter.reset()  # the configuration reads apart
            runtime.fan_out().count(routings)
            # Ten matches of one action, one update; the other action's ten rejections, none.
            assert [call.operation for call in meter.calls] == ["UpdateItem"], event_type


def test_the_estimate_of_an_unknown_or_another_workspace_s_destination_is_404(
    api: ApiClient, other_api: ApiClient, sink: Sink
) -> None:
    destination = webhook(api, sink.url)
    for client, destination_id in ((other_api, destination["id"]), (api, str(uuid.uuid4())), (api, "not-an-id")):
        response = client.get(f"{BASE}/{destination_id}/estimate")
        assert response.status == 404 and response.json()["error"]["code"] == "DESTINATION_NOT_FOUND"


def test_an_unknown_window_is_a_422(api: ApiClient, sink: Sink) -> None:
    destination = webhook(api, sink.url)
    response = api.get(f"{BASE}/{destination['id']}/estimate?window=30d")
    assert response.status == 422 and response.json()["error"]["details"][0]["path"] == "query.window"
