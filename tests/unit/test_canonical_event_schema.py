from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from nimriz_destinations.canonical_event import SCHEMA_PATH, validate_canonical_event
from nimriz_destinations.event_fields import (
    API_VERSION,
    CANONICAL_EVENT_TYPES,
    CONSENT_STATES,
    CONVERSION_OUTCOMES,
    EVENT_FIELDS,
    EVENT_OBJECTS,
    EVENT_TYPES,
    FORBIDDEN_PATHS,
    PRIVACY_MODES,
    STRICT_PRIVACY_FIELDS,
    TIMESTAMP_PATHS,
    TOUCH_TYPES,
    FieldType,
    compile_path,
)
from nimriz_destinations.sample_events import sample_event

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
NOW = datetime(2026, 3, 30, 12, 34, 56, 789000, tzinfo=UTC)


def event(event_type: str = "link.clicked", privacy_mode: str = "standard", **changes: Any) -> dict[str, Any]:
    base = sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", privacy_mode=privacy_mode, event_id="evt_1", now=NOW
    )
    return base | changes


def with_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    parent, _, key = path.rpartition(".")
    if parent:
        data[parent] = {**data.get(parent, {}), key: value}
    else:
        data[key] = value
    return data


# -- the schema document ---------------------------------------------------------------------------------------


def test_schema_is_draft_07_and_forward_compatible() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert SCHEMA["additionalProperties"] is True
    assert all(SCHEMA["properties"][name]["additionalProperties"] is True for name in EVENT_OBJECTS)


def test_schema_objects_declare_exactly_the_catalogue_sub_fields() -> None:
    for name, keys in EVENT_OBJECTS.items():
        declared = {key for key, rule in SCHEMA["properties"][name]["properties"].items() if rule is not False}
        assert declared == set(keys), name


def test_schema_enumerations_match_the_catalogue_constants() -> None:
    properties = SCHEMA["properties"]
    assert properties["type"]["enum"] == list(CANONICAL_EVENT_TYPES)
    assert properties["api_version"]["const"] == API_VERSION
    assert properties["touch_type"]["enum"] == [*TOUCH_TYPES, None]
    assert properties["privacy_mode"]["enum"] == [*PRIVACY_MODES, None]
    assert properties["conversion"]["properties"]["outcome"]["enum"] == [*CONVERSION_OUTCOMES, None]
    for choice in EVENT_OBJECTS["consent"]:
        assert properties["consent"]["properties"][choice]["enum"] == [*CONSENT_STATES, None]


# JSON types the schema may allow at a catalogue path of each catalogue type (null aside).
SCHEMA_TYPES = {
    FieldType.STRING: {"string"},
    FieldType.NUMBER: {"number", "integer"},
    FieldType.BOOLEAN: {"boolean"},
    FieldType.STRING_LIST: {"array"},
}


def _schema_rule(path: str) -> dict[str, Any]:
    parent, _, key = path.rpartition(".")
    properties = SCHEMA["properties"][parent]["properties"] if parent else SCHEMA["properties"]
    rule: dict[str, Any] = properties[key]
    return rule


@pytest.mark.parametrize("path", sorted(EVENT_FIELDS))
def test_a_valid_event_holds_only_its_catalogue_type_or_null_at_each_catalogue_path(path: str) -> None:
    # Flat payloads copy only list-typed fields (`event_fields.compile_projection`): every other catalogue value of a
    # valid event must be a scalar, never an object or list a mapping could edit in place.
    rule = _schema_rule(path)
    if "enum" in rule:
        allowed = {type(value).__name__ for value in rule["enum"]} - {"NoneType"}
        assert allowed == {"str"}, path
    elif "const" in rule:
        assert isinstance(rule["const"], str), path
    else:
        declared = {rule["type"]} if isinstance(rule["type"], str) else set(rule["type"])
        assert declared - {"null"} <= SCHEMA_TYPES[EVENT_FIELDS[path]], path
        if EVENT_FIELDS[path] is FieldType.STRING_LIST:
            assert rule["items"] == {"type": "string"}, path


# -- valid events ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("privacy_mode", ["standard", "strict"])
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_sample_event_is_valid(event_type: str, privacy_mode: str) -> None:
    assert validate_canonical_event(event(event_type, privacy_mode)) == []


def notice(kind: str = "destination.disabled") -> dict[str, Any]:
    from nimriz_destinations.notices import notice_event
    from nimriz_destinations.storage.records import DestinationHealth, DestinationRecord

    record = DestinationRecord(
        id="dest_1", workspace_id="ws_1", organization_id="org_1", name="Hook", type="generic_http", enabled=False,
        actions=[], credential_hints={}, secret_arn=None, secret_version=None, version=2,
        created_at="2026-03-30T12:00:00.000Z", updated_at="2026-03-30T12:34:56.789Z",
        destination_health=DestinationHealth(
            state="disabled", since="2026-03-30T12:34:56.789Z", consecutive_failures=1, disabled_reason="gone"
        ),
    )  # fmt: skip
    return notice_event(record, kind, last_error_class="endpoint_gone", last_http_status=410)


@pytest.mark.parametrize("kind", ["destination.failing", "destination.disabled", "destination.recovered"])
def test_operational_notices_are_valid_canonical_events(kind: str) -> None:
    assert validate_canonical_event(notice(kind)) == []


def test_a_notice_type_without_its_notice_object_is_invalid() -> None:
    data = notice()
    del data["notice"]
    assert validate_canonical_event(data) == ["event: must contain ['notice'] properties"]


def test_a_notice_with_an_unknown_health_state_is_invalid() -> None:
    data = notice()
    data["notice"]["health"]["state"] = "sleepy"
    (problem,) = validate_canonical_event(data)
    assert problem.startswith("notice.health.state: must be one of")


def test_unknown_fields_are_accepted_at_top_level_and_inside_objects() -> None:
    data = event(new_top_level_field={"any": "thing"})
    data["link"]["new_link_field"] = 3
    assert validate_canonical_event(data) == []


def test_nullable_fields_may_be_null_or_absent() -> None:
    data = event(touch_type=None, bot_flag=None, utm=None)
    data["context"] = {"country": None}
    del data["visitor"]
    assert validate_canonical_event(data) == []


def notice_with(path: str, value: str | None) -> dict[str, Any]:
    """A notice (the one event type carrying every timestamp) with `value` at `path`."""
    data = notice()
    parent, _, key = path.rpartition(".")
    (compile_path(parent)(data) if parent else data)[key] = value
    return data


# -- invalid events: one "path: reason" problem ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["id", "type", "api_version", "occurred_at", "organization_id", "workspace_id"])
def test_each_required_field_is_required(field: str) -> None:
    data = event()
    del data[field]
    assert validate_canonical_event(data) == [f"event: must contain ['{field}'] properties"]


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("id", "", "id: must be longer than or equal to 1 characters"),
        ("type", "link.converted", "type: must be one of"),
        ("api_version", "2025-01-01", "api_version: must be same as const definition: 2026-03-30"),
        ("occurred_at", "2026-03-30T12:34:56Z", "occurred_at: must match pattern"),
        ("occurred_at", "2026-03-30T12:34:56.789+00:00", "occurred_at: must match pattern"),
        ("occurred_at", "2026-13-30T12:34:56.789Z", "occurred_at: must match pattern"),
        ("occurred_at", "2026-03-30T12:34:56.789Z\n", "occurred_at: must match pattern"),
        ("bot_flag", "false", "bot_flag: must be boolean or null"),
        ("touch_type", "email", "touch_type: must be one of"),
        ("privacy_mode", "relaxed", "privacy_mode: must be one of"),
        ("link.tag_ids", ["tag", 7], "link.tag_ids[1]: must be string"),
        ("link.short_code", 12, "link.short_code: must be string or null"),
        ("context.country", "us", "context.country: must match pattern ^[A-Z]{2}$"),
        ("context", ["US"], "context: must be object or null"),
    ],
)
def test_wrong_values_are_reported_with_their_path(path: str, value: Any, problem: str) -> None:
    problems = validate_canonical_event(with_path(event(), path, value))
    assert len(problems) == 1
    assert problems[0].startswith(problem)


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("occurred_at", "2026-02-31T12:00:00.000Z", "must be a real date and time (day is out of range for month)"),
        ("occurred_at", "2027-02-29T12:00:00.000Z", "must be a real date and time (day is out of range for month)"),
        ("occurred_at", "2026-04-31T12:00:00.000Z", "must be a real date and time (day is out of range for month)"),
        ("occurred_at", "2026-03-30T23:59:60.000Z", "must be a real date and time (second must be in 0..59)"),
        ("occurred_at", "0000-03-30T12:00:00.000Z", "must be a real date and time (year 0 is out of range)"),
        ("occurred_at", "1970-12-31T23:59:59.999Z", "must be within the years 1971 to 9999 in UTC"),
        ("notice.health.since", "2026-03-30T24:00:00Z", "must be a real date and time (hour must be in 0..23)"),
        ("notice.health.since", "1971-01-01T00:30:00+01:00", "must be within the years 1971 to 9999 in UTC"),
        ("notice.health.last_success_at", "9999-12-31T23:00:00-05:00", "must be a date and time within the years 1"),
        ("notice.health.last_failure_at", "2026-03-30 12:00:00Z", "must be an RFC 3339 timestamp with a timezone"),
        ("notice.health.last_failure_at", "20260330T120000Z", "must be an RFC 3339 timestamp with a timezone"),
        ("notice.health.last_failure_at", "2026-03-30T12:00:00", "must be an RFC 3339 timestamp with a timezone"),
        ("notice.health.last_failure_at", "yesterday", "must be an RFC 3339 timestamp with a timezone"),
    ],
)
def test_timestamps_that_name_no_real_instant_are_reported_with_their_path(path: str, value: str, problem: str) -> None:
    (found,) = validate_canonical_event(notice_with(path, value))
    assert found.startswith(f"{path}: {problem}")


@pytest.mark.parametrize("field", ["workspace_id", "organization_id"])
@pytest.mark.parametrize("value", ["w" * 65, "ws dev", "ws/dev", "-ws", "wś"])
def test_routing_ids_that_are_no_platform_id_are_reported(field: str, value: str) -> None:
    # They become partition keys of the reads made for the event: one of 2 KB would be refused by DynamoDB.
    event = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    (found,) = validate_canonical_event({**event, field: value})
    assert found.startswith(f"{field}: must be 1 to 64 letters")


def test_routing_ids_of_64_characters_and_uuids_are_platform_ids() -> None:
    event = sample_event("link.clicked", workspace_id="w" * 64, organization_id="0f8c1a9e-52d4-4f0b-9a6e-3f2b1c4d5e6a")
    assert validate_canonical_event(event) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("occurred_at", "1971-01-01T00:00:00.000Z"),
        ("occurred_at", "9999-12-31T23:59:59.999Z"),
        ("occurred_at", "2028-02-29T23:59:59.000Z"),
        ("notice.health.since", "2026-03-30T14:34:56+02:00"),
        ("notice.health.since", "1971-01-01T00:30:00-01:00"),
        ("notice.health.last_success_at", "2026-03-30T12:34:56.123456Z"),
        ("notice.health.last_failure_at", None),
    ],
)
def test_real_instants_are_accepted_with_any_offset_the_schema_allows(path: str, value: str | None) -> None:
    assert validate_canonical_event(notice_with(path, value)) == []


def test_every_timestamp_the_schema_declares_is_checked_as_an_instant() -> None:
    def timestamp_paths(schema: Any, prefix: str) -> set[str]:
        """Properties named like timestamps (`*_at`, `since`) or described as RFC 3339, at any depth."""
        found = set()
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        for name, rule in properties.items():
            described = isinstance(rule, dict) and "RFC 3339" in rule.get("description", "")
            if name.endswith("_at") or name == "since" or described:
                found.add(f"{prefix}{name}")
            found |= timestamp_paths(rule, f"{prefix}{name}.")
        return found

    assert timestamp_paths(SCHEMA, "") == set(TIMESTAMP_PATHS)


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("conversion.value", "49.90", "conversion.value: must be number or null"),
        ("conversion.value", True, "conversion.value: must be number or null"),
        ("conversion.currency", "usd", "conversion.currency: must match pattern ^[A-Z]{3}$"),
        ("conversion.outcome", "upsell", "conversion.outcome: must be one of"),
        ("conversion.outcome", None, "conversion.outcome: must be string"),
        ("conversion.original_value", "49.90", "conversion.original_value: must be number or null"),
        ("consent.ad_user_data", "GRANTED", "consent.ad_user_data: must be one of"),
        ("consent.ad_personalization", "yes", "consent.ad_personalization: must be one of"),
        ("consent", "granted", "consent: must be object or null"),
    ],
)
def test_conversion_fields_are_typed(path: str, value: Any, problem: str) -> None:
    problems = validate_canonical_event(with_path(event("conversion.sale"), path, value))
    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_a_conversion_may_carry_the_visitors_consent_and_the_value_it_undoes() -> None:
    refund = event("conversion.refund")
    refund["conversion"]["original_value"] = 120.0
    refund["consent"] = {"ad_user_data": "denied", "ad_personalization": "granted"}
    assert validate_canonical_event(refund) == []


def test_conversion_events_require_a_conversion_with_an_outcome() -> None:
    without_conversion = event("conversion.sale")
    del without_conversion["conversion"]
    without_outcome = event("conversion.sale")
    del without_outcome["conversion"]["outcome"]
    assert validate_canonical_event(without_conversion) == ["event: must contain ['conversion'] properties"]
    assert validate_canonical_event(without_outcome) == ["conversion: must contain ['outcome'] properties"]


def test_link_events_need_no_conversion() -> None:
    data = event("link.clicked")
    assert "conversion" not in data
    assert validate_canonical_event(data) == []


@pytest.mark.parametrize("path", STRICT_PRIVACY_FIELDS)
def test_strict_events_must_not_carry_visitor_hash_city_or_region(path: str) -> None:
    strict = with_path(event(privacy_mode="strict"), path, "Paris")
    standard = with_path(event(privacy_mode="standard"), path, "Paris")
    assert validate_canonical_event(strict) == [f"{path}: must not be there"]
    assert validate_canonical_event(standard) == []


@pytest.mark.parametrize("path", FORBIDDEN_PATHS)
def test_raw_ip_and_user_agent_are_never_allowed(path: str) -> None:
    for privacy_mode in ("standard", "strict"):
        data = with_path(event(privacy_mode=privacy_mode), path, "203.0.113.7")
        assert validate_canonical_event(data) == [f"{path}: must not be there"]


@pytest.mark.parametrize("data", [None, "link.clicked", [], 42])
def test_non_objects_are_invalid(data: Any) -> None:
    assert validate_canonical_event(data) == ["event: must be object"]


# -- sample events ---------------------------------------------------------------------------------------------


def test_sample_events_are_deterministic_apart_from_id_and_time() -> None:
    first = sample_event("conversion.sale", workspace_id="ws_1", organization_id="org_1")
    second = sample_event("conversion.sale", workspace_id="ws_1", organization_id="org_1")
    assert first["id"] != second["id"]
    ignored = {"id", "occurred_at"}
    assert {k: v for k, v in first.items() if k not in ignored} == {k: v for k, v in second.items() if k not in ignored}


def test_sample_event_uses_the_given_id_time_and_routing_keys() -> None:
    data = event("link.qr_scanned")
    assert (data["id"], data["occurred_at"]) == ("evt_1", "2026-03-30T12:34:56.789Z")
    assert (data["workspace_id"], data["organization_id"], data["touch_type"]) == ("ws_1", "org_1", "qr_scan")


def test_sample_link_and_conversion_events_carry_click_ids_and_contact_fields() -> None:
    click = event("link.clicked")
    refund = event("conversion.refund")
    assert {"gclid", "fbclid"} <= click["click_ids"].keys()
    assert refund["conversion"]["outcome"] == "refund"
    assert {"value", "currency", "conversion_name", "click_token", "email", "phone", "original_event_id"} <= (
        refund["conversion"].keys()
    )
    assert "conversion" not in event("card.viewed")


def test_strict_sample_events_omit_the_strict_privacy_fields() -> None:
    strict = event("link.clicked", privacy_mode="strict")
    assert all(compile_path(path)(strict) is None for path in STRICT_PRIVACY_FIELDS)
    assert compile_path("visitor.click_id")(strict) is not None


def test_sample_events_share_no_mutable_state() -> None:
    first = event()
    first["link"]["tag_ids"].append("mutated")
    first["context"]["country"] = "FR"
    second = event()
    assert "mutated" not in second["link"]["tag_ids"]
    assert second["context"]["country"] == "US"


@pytest.mark.parametrize(("event_type", "privacy_mode"), [("nim.webhook.test", "standard"), ("link.clicked", "off")])
def test_sample_event_rejects_unknown_types_and_modes(event_type: str, privacy_mode: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        sample_event(event_type, workspace_id="ws_1", organization_id="org_1", privacy_mode=privacy_mode)
