"""What the dispatcher does with the provider hooks: a batch-mate's refusal resends the rest at once (each request an
attempt), a static token gets no refresh after a 401, and the credentials' expiry a refresh learned shows on the
destination."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient
from tests.e2e.providers import LINKEDIN, PROVIDERS
from tests.pipeline import Pipeline
from tests.sinks.server import Sink

BASE = "/api/integrations/destinations"


def deliveries(api: ApiClient, destination_id: str) -> dict[str, dict[str, Any]]:
    found = api.get(f"{BASE}/{destination_id}/deliveries").json()["deliveries"]
    return {d["event_id"]: d for d in found}


def routed_to(monkeypatch: pytest.MonkeyPatch, destination_type: str, sink: Sink) -> None:
    monkeypatch.setenv("NIMRIZ_EGRESS_OVERRIDES", json.dumps({destination_type: sink.url}))
    runtime.reset()


def lead(**click_ids: str) -> dict[str, Any]:
    event = sample_event("conversion.lead", workspace_id="ws_dev", organization_id="org_dev")
    event["click_ids"] = {key: value for key, value in (event.get("click_ids") or {}).items() if key != "fbclid"}
    event["click_ids"].update(click_ids)
    return event


def test_a_batch_meta_refuses_for_one_event_delivers_the_others_at_once_each_request_an_attempt(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = PROVIDERS["meta"]
    with Sink(setup.handler()) as sink:
        routed_to(monkeypatch, "meta", sink)
        # The raw fbclid copied into fbc is what Meta refuses, naming the event (data[i]) and failing the request.
        raw_fbc = {"type": "include", "field": "click_ids.fbclid", "to": "user_data.fbc"}
        body = {
            "name": "Meta",
            "type": "meta",
            "credentials": setup.credentials,
            "actions": [
                {
                    "name": "Leads",
                    "action_type": "send_conversion",
                    "property_mapping": {"base": "default", "overrides": [raw_fbc]},
                }
            ],
        }
        destination = api.post(BASE, body).json()["destination"]
        good, refused = lead(), lead(fbclid="IwAR-raw-fbclid")
        pipeline.publish(good, refused)
        pipeline.run()

        outcomes = deliveries(api, destination["id"])
        # Two requests carried the good event: two attempts, each in its log.
        assert (outcomes[good["id"]]["status"], outcomes[good["id"]]["attempts"]) == ("delivered", 2), outcomes
        assert outcomes[refused["id"]]["status"] == "dead_lettered", outcomes
        detail = api.get(f"{BASE}/{destination['id']}/deliveries/{outcomes[good['id']]['id']}").json()["delivery"]
        logged = [(entry["attempt"], entry["outcome"], entry["error_class"]) for entry in detail["attempt_log"]]
        assert sorted(logged, key=lambda entry: entry[0]) == [
            (1, "retry", "batch_mate_refused"),
            (2, "delivered", None),
        ], logged
        carried = [[event["event_id"] for event in request.json()["data"]] for request in sink.requests]
        assert carried == [[good["id"], refused["id"]], [good["id"]]] or carried == [
            [refused["id"], good["id"]],
            [good["id"]],
        ], carried


def test_a_tiktok_batch_refused_with_a_code_naming_no_event_delivers_the_good_events_and_fails_only_the_bad_one(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = PROVIDERS["tiktok"]
    with Sink(setup.handler()) as sink:
        routed_to(monkeypatch, "tiktok", sink)
        # A mapping puts the conversion's value into user.ttclid: a number where an event has one, which TikTok refuses
        # with code 40002 for the whole request, naming no event; the events without a value keep their ttclid.
        ttclid = {"type": "include", "field": "conversion.value", "to": "user.ttclid"}
        body = {
            "name": "TikTok",
            "type": "tiktok",
            "credentials": setup.credentials,
            "actions": [
                {
                    "name": "Leads",
                    "action_type": "send_conversion",
                    "property_mapping": {"base": "default", "overrides": [ttclid]},
                }
            ],
        }
        created = api.post(BASE, body)
        assert created.status == 201, created.text
        destination = created.json()["destination"]
        events = [lead(ttclid=f"E.C.P.ttclid-{index}") for index in range(3)]
        for index, event in enumerate(events):
            event["conversion"].pop("value", None)
            if index == 1:
                event["conversion"]["value"] = 42
        bad = events[1]["id"]
        pipeline.publish(*events)
        pipeline.run()

        outcomes = deliveries(api, destination["id"])
        carried = [[event["event_id"] for event in request.json()["data"]] for request in sink.requests]
    assert len(carried[0]) == 3 and all(len(request) < 3 for request in carried[1:]), carried  # one batch, then parts
    assert {event_id: outcome["status"] for event_id, outcome in outcomes.items()} == {
        event["id"]: "dead_lettered" if event["id"] == bad else "delivered" for event in events
    }
    assert outcomes[bad]["last_error_class"] == "tiktok_40002"
    for event in events:
        summary = outcomes[event["id"]]
        log = api.get(f"{BASE}/{destination['id']}/deliveries/{summary['id']}").json()["delivery"]["attempt_log"]
        rode = sum(event["id"] in request for request in carried)  # requests the endpoint saw carrying it
        assert summary["attempts"] == len(log) == rode, (summary, log, carried)
        assert sorted(entry["attempt"] for entry in log) == list(range(1, rode + 1))


def test_a_refresh_learns_when_the_linkedin_credentials_expire_and_the_destination_shows_it(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = PROVIDERS["linkedin"]
    with Sink(setup.handler()) as sink:
        routed_to(monkeypatch, "linkedin", sink)
        body = {
            "name": "LinkedIn",
            "type": "linkedin",
            "credentials": LINKEDIN,
            "actions": [{"name": "Leads", "action_type": "send_conversion"}],
        }
        destination = api.post(BASE, body).json()["destination"]
        assert destination["credentials_expire_at"] is None
        pipeline.publish(lead())
        pipeline.run()

        shown = api.get(f"{BASE}/{destination['id']}").json()["destination"]
        assert [d["status"] for d in deliveries(api, destination["id"]).values()] == ["delivered"]
        assert shown["credentials_expire_at"] is not None and shown["credentials_expire_at"] > shown["created_at"]


def test_a_static_linkedin_token_answered_401_is_not_refreshed(
    api: ApiClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = PROVIDERS["linkedin"]
    with Sink(setup.handler()) as sink:
        routed_to(monkeypatch, "linkedin", sink)
        static = {"access_token": "AQV-static-token-the-sink-never-issued", "conversion_rule_id": "104012"}
        body = {
            "name": "LinkedIn static",
            "type": "linkedin",
            "credentials": static,
            "actions": [{"name": "Leads", "action_type": "send_conversion"}],
        }
        destination = api.post(BASE, body).json()["destination"]
        pipeline.publish(lead())
        pipeline.run()

        (delivery,) = deliveries(api, destination["id"]).values()
        assert delivery["status"] == "dead_lettered" and delivery["last_http_status"] == 401, delivery
        assert [request.path for request in sink.requests if "accessToken" in request.path] == []
        assert len(sink.requests) == 1  # the conversion once; no token request, no resend
