"""Audit diffs: leaf paths, secrets as hints only, changed secrets with unchanged hints, bounded size."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from nimriz_destinations.api.app import current_actor
from nimriz_destinations.audit import (
    MAX_CHANGES_CHARS,
    MAX_VALUE_CHARS,
    Actor,
    Change,
    changed_secret_paths,
    destination_snapshot,
    diff,
)
from nimriz_destinations.redaction import redact_credentials
from nimriz_destinations.storage.records import ActionRecord, DestinationRecord

SECRET = "seg_live_0123456789abcdef"


def record(**overrides: Any) -> DestinationRecord:
    fields: dict[str, Any] = {
        "id": "d1",
        "workspace_id": "ws",
        "organization_id": "org",
        "name": "Clicks",
        "type": "segment",
        "enabled": True,
        "actions": [
            ActionRecord(
                id="a1",
                name="Send",
                action_type="send_event",
                enabled=True,
                property_mapping={"base": "default", "overrides": []},
                event_filter={"include": {"event_types": ["link.clicked"]}},
                settings=None,
                created_at="t",
                updated_at="t",
            )
        ],
        "credential_hints": redact_credentials({"write_key": SECRET, "region": "eu"}, frozenset({"write_key"})),
        "secret_arn": "arn:secret",
        "secret_version": "v1",
        "version": 1,
        "created_at": "t",
        "updated_at": "t",
    }
    return DestinationRecord(**{**fields, **overrides})


def test_nested_values_become_leaf_paths_with_actions_keyed_by_id_and_lists_kept_whole() -> None:
    changes = diff(None, destination_snapshot(record()))
    paths = {change.path: change.after for change in changes}
    assert paths["name"] == "Clicks"
    assert paths["credentials.region"] == "eu"
    assert paths["actions[a1].event_filter.include.event_types"] == ["link.clicked"]
    assert paths["actions[a1].property_mapping.overrides"] == []
    assert all(change.before is None for change in changes)
    assert [change.path for change in changes] == sorted(paths)


def test_only_changed_paths_are_listed_and_a_removed_side_is_null() -> None:
    before = destination_snapshot(record())
    after = destination_snapshot(record(name="Clicks (EU)", actions=[]))
    changes = diff(before, after)
    assert Change("name", "Clicks", "Clicks (EU)") in changes
    assert Change("actions[a1].name", "Send", None) in changes
    assert not [change for change in changes if change.path.startswith("credentials")]
    assert diff(before, before) == []


def test_a_snapshot_holds_the_secret_only_as_its_hint() -> None:
    snapshot = destination_snapshot(record())
    assert snapshot["credentials"]["write_key"] == "…cdef"
    assert SECRET not in json.dumps(snapshot)


def test_a_changed_secret_with_the_same_hint_is_still_recorded_as_a_change_of_hints() -> None:
    snapshot = destination_snapshot(record())
    changes = diff(snapshot, snapshot, changed_secrets={"credentials.write_key"})
    assert changes == [Change("credentials.write_key", "…cdef", "…cdef")]


def test_changed_secret_paths_compare_values_of_secret_fields_and_of_each_secret_header() -> None:
    before = {"url": "https://a", "signing_secret": "s1", "headers": {"A": "x", "B": "y"}}
    after = {"url": "https://b", "signing_secret": "s1", "headers": {"A": "x", "B": "z", "C": "w"}}
    paths = changed_secret_paths(before, after, {"signing_secret", "headers"})
    assert paths == {"credentials.headers.B", "credentials.headers.C"}
    assert changed_secret_paths({}, {"signing_secret": "new"}, {"signing_secret"}) == {"credentials.signing_secret"}


def test_a_large_value_is_recorded_as_its_size_only() -> None:
    big = ["x" * 100] * (MAX_VALUE_CHARS // 50)
    (change,) = diff({"list": []}, {"list": big})
    assert change.before == [] and change.after == f"[not recorded: {len(json.dumps(big))} characters]"


def test_too_many_changes_are_cut_with_a_count_of_the_rest() -> None:
    after = {f"field{index:05d}": "v" * 500 for index in range(2000)}
    changes = diff(None, after)
    # What is stored stays well inside a DynamoDB item (400 KB) with the rest of the entry.
    assert len(json.dumps([[c.path, c.before, c.after] for c in changes])) < 300 * 1024
    assert len(changes) * 520 > MAX_CHANGES_CHARS * 0.99  # the budget is used, not cut early
    last = changes[-1]
    assert last.path == "…" and last.after == f"{2000 - (len(changes) - 1)} more changed paths, not recorded"


def resolver_with_authorizer(authorizer: dict[str, Any]) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    app.current_event = APIGatewayProxyEvent({"requestContext": {"authorizer": authorizer}})
    return app


def test_the_actor_is_the_authorizers_api_key_id_or_unknown() -> None:
    with_key = resolver_with_authorizer({"workspace_id": "ws", "organization_id": "org", "api_key_id": "key_1"})
    assert current_actor(with_key) == Actor(type="api_key", id="key_1")
    without_key = resolver_with_authorizer({"workspace_id": "ws", "organization_id": "org"})
    assert current_actor(without_key) == Actor(type="api_key", id="unknown")
