"""A fan-out batch's schedule (design §2): workspaces take turns, and one that used its share of the batch's routing
time has its remaining events deferred while the others' are routed. Routing times are given, not measured."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimriz_destinations.delivery.fanout import EventDeferred, FanOutBatch, InvalidEvent, Routing

# Seconds routing one event of each workspace takes.
ROUTING_SECONDS = {"ws_slow": 0.5, "ws_quick": 0.001, "ws_third": 0.001}


def message(index: int, workspace_id: str) -> tuple[str, str]:
    return f"m{index}", json.dumps({"id": f"e{index}", "workspace_id": workspace_id})


def parse(body: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(body)
    if not event["workspace_id"]:
        raise InvalidEvent("no workspace")
    return event


def route(event: dict[str, Any]) -> Routing:
    workspace_id = event["workspace_id"]
    return Routing(workspace_id, event["id"], routing_seconds=ROUTING_SECONDS[workspace_id])


def outcomes(batch: FanOutBatch) -> list[tuple[str, str]]:
    """(message id, what happened) in the batch's order."""
    happened = []
    for message_id in batch.order:
        try:
            batch.route(message_id)
            happened.append((message_id, "routed"))
        except EventDeferred:
            happened.append((message_id, "deferred"))
        except InvalidEvent:
            happened.append((message_id, "invalid"))
    return happened


def test_workspaces_take_turns_each_with_its_events_in_arrival_order() -> None:
    workspaces = ["ws_slow", "ws_slow", "ws_slow", "ws_quick", "ws_third", "ws_quick"]
    batch = FanOutBatch([message(i, w) for i, w in enumerate(workspaces)], parse=parse, route=route, share_seconds=9)
    assert batch.order == ["m0", "m3", "m4", "m1", "m5", "m2"]


def test_a_workspace_past_its_share_is_deferred_while_the_others_in_the_batch_are_routed() -> None:
    workspaces = ["ws_slow", "ws_slow", "ws_slow", "ws_quick", "ws_quick", "ws_quick"]
    batch = FanOutBatch([message(i, w) for i, w in enumerate(workspaces)], parse=parse, route=route, share_seconds=0.2)
    assert outcomes(batch) == [
        ("m0", "routed"),  # nothing spent yet: its first event runs, and takes more than the share
        ("m3", "routed"),
        ("m1", "deferred"),
        ("m4", "routed"),
        ("m2", "deferred"),
        ("m5", "routed"),
    ]


def test_the_deferral_names_the_workspace_and_its_share() -> None:
    batch = FanOutBatch([message(0, "ws_slow"), message(1, "ws_slow")], parse=parse, route=route, share_seconds=0.2)
    batch.route("m0")
    with pytest.raises(EventDeferred) as deferred:
        batch.route("m1")
    assert deferred.value.workspace_id == "ws_slow"
    assert "0.2 s" in str(deferred.value)


def test_a_message_that_cannot_be_parsed_fails_alone_in_its_turn() -> None:
    batch = FanOutBatch(
        [message(0, "ws_quick"), message(1, ""), message(2, "ws_quick")], parse=parse, route=route, share_seconds=9
    )
    assert outcomes(batch) == [("m0", "routed"), ("m1", "invalid"), ("m2", "routed")]
