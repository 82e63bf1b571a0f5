"""Preview of every destination type with events generated from the canonical event schema (issue 16, item 6):
an event the schema accepts is previewed (200) or refused as invalid (422 naming the field: a timestamp naming no
instant, or a workspace or organization id that is no platform id), never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from jsonschema import Draft7Validator

from nimriz_destinations.canonical_event import validate_canonical_event
from nimriz_destinations.event_fields import CANONICAL_EVENT_TYPES, TIMESTAMP_PATHS
from nimriz_destinations.providers import DESTINATION_TYPES
from nimriz_destinations.sample_events import sample_event
from tests.canonical_events import SCHEMA, canonical_events
from tests.conftest import ApiClient, ApiResponse
from tests.factories import ACTION_TYPE_FOR, action_body, destination_body

PREVIEW = "/api/integrations/destinations/preview"
# Each passes the schema's pattern for `occurred_at`, but names no real instant.
FEBRUARY_31, LEAP_SECOND, YEAR_ZERO = "2026-02-31T12:00:00.000Z", "2026-03-30T23:59:60.000Z", "0000-03-30T12:00:00.000Z"
SCHEMA_VALIDATOR = Draft7Validator(SCHEMA)


def event_at(occurred_at: str, event_type: str = "conversion.sale") -> dict[str, Any]:
    event = sample_event(event_type, workspace_id="ws_dev", organization_id="org_dev")
    return {**event, "occurred_at": occurred_at}


def preview_everywhere(api: ApiClient, event: dict[str, Any]) -> dict[str, ApiResponse]:
    """The event previewed with an unsaved destination of every type, whose action lets every event type through."""
    everything = {"include": {"event_types": list(CANONICAL_EVENT_TYPES)}}
    answers = {}
    for destination_type in DESTINATION_TYPES:
        action = action_body(ACTION_TYPE_FOR[destination_type], event_filter=everything)
        destination = destination_body(destination_type, actions=[action])
        answers[destination_type] = api.post(PREVIEW, {"destination": destination, "event": event})
    return answers


@pytest.mark.parametrize("occurred_at", [FEBRUARY_31, LEAP_SECOND, YEAR_ZERO])
def test_preview_refuses_an_impossible_occurred_at_with_422_naming_the_field_for_every_destination_type(
    api: ApiClient, occurred_at: str
) -> None:
    answers = preview_everywhere(api, event_at(occurred_at))

    assert {name: answer.status for name, answer in answers.items()} == dict.fromkeys(DESTINATION_TYPES, 422)
    for answer in answers.values():
        (detail,) = answer.json()["error"]["details"]
        assert detail["path"] == "event" and detail["reason"].startswith("occurred_at: must be a real date and time")


@pytest.mark.usefixtures("highest_request_limits")
@settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=canonical_events())
@example(event=event_at("2026-03-30T12:34:56.789Z", "link.clicked"))
@example(event=event_at(FEBRUARY_31))
@example(event=event_at(LEAP_SECOND, "conversion.lead"))
@example(event=event_at(YEAR_ZERO, "card.viewed"))
def test_preview_of_schema_generated_events_answers_200_or_422_naming_a_timestamp_or_routing_id_never_5xx(
    api: ApiClient, event: dict[str, Any]
) -> None:
    assert SCHEMA_VALIDATOR.is_valid(event)  # the generator keeps to the schema: what preview refuses, the code does
    problems = validate_canonical_event(event)
    checked_beyond_the_schema = {*TIMESTAMP_PATHS, "workspace_id", "organization_id"}
    assert all(problem.split(":")[0] in checked_beyond_the_schema for problem in problems), problems
    expected = 422 if problems else 200

    answers = preview_everywhere(api, event)

    wrong = {name: (answer.status, answer.text[:300]) for name, answer in answers.items() if answer.status != expected}
    assert not wrong, (expected, problems, wrong)
