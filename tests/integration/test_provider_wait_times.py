"""Providers' wait times through the pipeline (design §8.1): a throttled attempt is recorded `throttled`, its job is
out of sight until the provider's stated time (its SQS visibility and the record's `next_attempt_at`), and throttled
attempts do not use up the six."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import boto3
import pytest

from nimriz_destinations import runtime
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.deliveries import summary_key
from nimriz_destinations.storage.queues import DeliveriesQueue
from tests.conftest import ApiClient
from tests.e2e.providers import PROVIDERS
from tests.pipeline import Pipeline
from tests.sinks.google_ads import quota_exhausted
from tests.sinks.meta import buc_throttled
from tests.sinks.server import Sink, SinkRequest, SinkResponse

BASE = "/api/integrations/destinations"


def conversion_destination(api: ApiClient, destination_type: str) -> dict[str, Any]:
    setup = PROVIDERS[destination_type]
    body = {
        "name": destination_type,
        "type": destination_type,
        "credentials": setup.credentials,
        "actions": [{"name": "Conversions", "action_type": "send_conversion"}],
    }
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def lead() -> dict[str, Any]:
    return sample_event("conversion.lead", workspace_id="ws_dev", organization_id="org_dev")


def delivery(api: ApiClient, destination_id: str) -> dict[str, Any]:
    (summary,) = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
    detail: dict[str, Any] = api.get(f"{BASE}/{destination_id}/deliveries/{summary['id']}").json()["delivery"]
    return detail


def seconds_between(earlier: str, later: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def test_a_meta_throttle_keeps_the_job_out_of_sight_until_meta_says_access_returns(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    returns: list[tuple[str, int]] = []
    schedule = DeliveriesQueue.schedule_returns

    def scheduled(queue: DeliveriesQueue, given: Sequence[tuple[str, int]]) -> None:
        returns.extend(given)
        schedule(queue, given)

    monkeypatch.setattr(DeliveriesQueue, "schedule_returns", scheduled)
    with Sink(PROVIDERS["meta"].handler()) as sink:
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"meta": sink.url}))
        runtime.reset()
        sink.script.append(buc_throttled(regain_minutes=19))
        destination = conversion_destination(api, "meta")
        pipeline.publish(lead())
        assert pipeline.poll("FanOutFunction") == 1
        before = time.time()
        assert pipeline.poll("DispatcherFunction") == 1

        ((_, visibility),) = returns
        assert 19 * 60 <= visibility <= 19 * 60 * 1.2 + 1  # the retry schedule here is 1 s: Meta's time wins
        detail = delivery(api, destination["id"])
        (entry,) = detail["attempt_log"]
        assert (detail["status"], entry["outcome"], entry["error_class"]) == (
            "retrying",
            "throttled",
            "meta_error_80004",
        )
        assert 19 * 60 <= seconds_between(entry["attempted_at"], entry["next_attempt_at"]) <= 19 * 60 * 1.2 + 1
        key = summary_key("ws_dev", destination["id"], detail["id"])
        item = boto3.client("dynamodb").get_item(TableName=pipeline.stack.tables["DestinationsTable"], Key=key)["Item"]
        assert float(item["next_attempt_at"]["N"]) >= before + 19 * 60 and item["throttled"] == {"N": "1"}
        assert pipeline.poll("DispatcherFunction") == 0 and len(sink.requests) == 1  # out of sight until then


def test_six_google_ads_quota_refusals_are_waited_out_and_the_conversion_is_delivered_on_the_seventh_request(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = PROVIDERS["google_ads"].handler()
    refusals = [quota_exhausted("0.5s") for _ in range(6)]

    def google(request: SinkRequest) -> SinkResponse:
        if request.path != "/token" and refusals:
            return refusals.pop()
        return handler(request)

    with Sink(google) as sink:
        monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"google_ads": sink.url}))
        runtime.reset()
        destination = conversion_destination(api, "google_ads")
        pipeline.publish(lead())
        pipeline.run()

        detail = delivery(api, destination["id"])
        log = detail["attempt_log"]
        assert [(a["attempt"], a["outcome"]) for a in log] == [(n, "throttled") for n in range(1, 7)] + [
            (7, "delivered")
        ]
        assert all(seconds_between(a["attempted_at"], a["next_attempt_at"]) >= 0.5 for a in log[:6])
        assert (detail["status"], detail["attempts"]) == ("delivered", 7)
        assert api.get(f"{BASE}/{destination['id']}/dead-letters").json()["dead_letters"] == []
        assert len([request for request in sink.requests if request.path != "/token"]) == 7
