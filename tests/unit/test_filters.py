from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nimriz_destinations.event_fields import CONVERSION_EVENT_TYPES, EVENT_TYPES, NOTICE_EVENT_TYPES
from nimriz_destinations.filters import MATCH_INPUT_LIMIT, EventFilter, FilterVerdict, compile_filter
from nimriz_destinations.sample_events import sample_event

SEED_FILTER = {
    "include": {"event_types": ["link.clicked", "link.qr_scanned"]},
    "exclude": {"bot_traffic": True},
    "conditions": [],
}
TAG = "5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c"  # one of the sample link's tags


def make_event(event_type: str = "link.clicked", /, **changes: Any) -> dict[str, Any]:
    """A sample event; `changes` maps paths (`__` for `.`) to new values, None deleting the field."""
    data = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id="evt_1")
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = data
        for parent in parents:
            node = node.setdefault(parent, {})
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    return data


def evaluate(filter_data: dict[str, Any], event: dict[str, Any]) -> FilterVerdict:
    return compile_filter(EventFilter.model_validate(filter_data)).evaluate(event)


def holds(condition: dict[str, Any], event: dict[str, Any]) -> bool:
    return evaluate({"conditions": [condition]}, event).passed


def errors(filter_data: Any) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        EventFilter.model_validate(filter_data)
    return [(tuple(error["loc"]), error["msg"]) for error in caught.value.errors()]


# -- include / exclude / bot traffic ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_empty_filter_passes_every_event_type(event_type: str) -> None:
    assert evaluate({}, make_event(event_type)) == FilterVerdict(passed=True, rejected_by=None)


def test_seed_filter_forwards_human_clicks_and_scans_only() -> None:
    assert evaluate(SEED_FILTER, make_event("link.clicked")).passed
    assert evaluate(SEED_FILTER, make_event("link.qr_scanned")).passed
    assert evaluate(SEED_FILTER, make_event("conversion.sale")).rejected_by == "include.event_types"
    assert evaluate(SEED_FILTER, make_event(bot_flag=True)).rejected_by == "exclude.bot_traffic"


# key, the event's own value, another value, the event path (double underscore) the key reads
INCLUDE_KEYS = [
    ("event_types", "link.clicked", "card.viewed", "type"),
    ("touch_types", "short_link_click", "qr_scan", "touch_type"),
    ("domain_ids", "7e2f4c1a-9b3d-4e8f-a6c5-1d0b2e3f4a5b", "dom_other", "link__domain_id"),
    ("tag_ids", TAG, "tag_other", "link__tag_ids"),
    ("space_ids", "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "space_other", "link__space_id"),
    ("countries", "US", "FR", "context__country"),
]


@pytest.mark.parametrize(("key", "own", "other", "path"), INCLUDE_KEYS)
def test_include_list_passes_listed_values_and_rejects_others_and_missing(
    key: str, own: str, other: str, path: str
) -> None:
    assert evaluate({"include": {key: [other, own]}}, make_event()).passed
    assert evaluate({"include": {key: [other]}}, make_event()).rejected_by == f"include.{key}"
    assert evaluate({"include": {key: [own]}}, make_event(**{path: None})).rejected_by == f"include.{key}"


EXCLUDE_KEYS = [entry for entry in INCLUDE_KEYS if entry[0] != "space_ids"]


@pytest.mark.parametrize(("key", "own", "other", "path"), EXCLUDE_KEYS)
def test_exclude_list_rejects_listed_values_and_passes_others_and_missing(
    key: str, own: str, other: str, path: str
) -> None:
    assert evaluate({"exclude": {key: [other, own]}}, make_event()).rejected_by == f"exclude.{key}"
    assert evaluate({"exclude": {key: [other]}}, make_event()).passed
    assert evaluate({"exclude": {key: [own]}}, make_event(**{path: None})).passed


def test_space_ids_cannot_be_excluded() -> None:
    assert errors({"exclude": {"space_ids": ["space_1"]}}) == [
        (("exclude", "space_ids"), "Extra inputs are not permitted")
    ]


def test_tag_rules_match_when_the_link_has_any_listed_tag() -> None:
    event = make_event(link__tag_ids=["tag_a", "tag_b"])
    assert evaluate({"include": {"tag_ids": ["tag_b", "tag_z"]}}, event).passed
    assert evaluate({"include": {"tag_ids": ["tag_z"]}}, make_event(link__tag_ids=[])).rejected_by == "include.tag_ids"
    assert evaluate({"exclude": {"tag_ids": ["tag_z", "tag_a"]}}, event).rejected_by == "exclude.tag_ids"


@pytest.mark.parametrize(
    ("bot_flag", "exclude_bots", "passed"),
    [(True, True, False), (False, True, True), (None, True, True), ("true", True, True), (True, False, True)],
)
def test_bot_traffic_exclusion_rejects_only_bot_flag_true(bot_flag: Any, exclude_bots: bool, passed: bool) -> None:
    verdict = evaluate({"exclude": {"bot_traffic": exclude_bots}}, make_event(bot_flag=bot_flag))
    assert verdict.passed is passed
    assert verdict.rejected_by == (None if passed else "exclude.bot_traffic")


def test_first_failing_rule_in_include_exclude_conditions_order_is_reported() -> None:
    failing_everywhere = {
        "include": {"countries": ["FR"], "touch_types": ["qr_scan"]},
        "exclude": {"event_types": ["link.clicked"], "bot_traffic": True},
        "conditions": [{"field": "utm.source", "operator": "eq", "value": "newsletter"}],
    }
    event = make_event(bot_flag=True)
    assert evaluate(failing_everywhere, event).rejected_by == "include.touch_types"
    failing_everywhere["include"] = {}
    assert evaluate(failing_everywhere, event).rejected_by == "exclude.event_types"
    failing_everywhere["exclude"] = {"bot_traffic": True}
    assert evaluate(failing_everywhere, event).rejected_by == "exclude.bot_traffic"
    failing_everywhere["exclude"] = {}
    assert evaluate(failing_everywhere, event).rejected_by == "conditions[0]"


# -- operators -------------------------------------------------------------------------------------------------

# condition, event changes, expected
OPERATOR_CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    ({"field": "context.country", "operator": "eq", "value": "US"}, {}, True),
    ({"field": "context.country", "operator": "eq", "value": "us"}, {}, False),
    ({"field": "bot_flag", "operator": "eq", "value": False}, {}, True),
    ({"field": "bot_flag", "operator": "eq", "value": True}, {}, False),
    ({"field": "context.country", "operator": "neq", "value": "FR"}, {}, True),
    ({"field": "context.country", "operator": "neq", "value": "US"}, {}, False),
    ({"field": "context.country", "operator": "in", "value": ["CA", "US"]}, {}, True),
    ({"field": "context.country", "operator": "in", "value": ["CA", "FR"]}, {}, False),
    ({"field": "context.country", "operator": "not_in", "value": ["CA", "FR"]}, {}, True),
    ({"field": "context.country", "operator": "not_in", "value": ["US"]}, {}, False),
    ({"field": "utm.campaign", "operator": "contains", "value": "sale"}, {}, True),
    ({"field": "utm.campaign", "operator": "contains", "value": "winter"}, {}, False),
    ({"field": "link.tag_ids", "operator": "contains", "value": TAG}, {}, True),
    ({"field": "link.tag_ids", "operator": "contains", "value": TAG[:8]}, {}, False),
    ({"field": "utm.campaign", "operator": "not_contains", "value": "winter"}, {}, True),
    ({"field": "utm.campaign", "operator": "not_contains", "value": "sale"}, {}, False),
    ({"field": "link.tag_ids", "operator": "not_contains", "value": "tag_other"}, {}, True),
    ({"field": "link.tag_ids", "operator": "not_contains", "value": TAG}, {}, False),
    ({"field": "link.short_url", "operator": "starts_with", "value": "https://go."}, {}, True),
    ({"field": "link.short_url", "operator": "starts_with", "value": "http://"}, {}, False),
    ({"field": "link.short_url", "operator": "ends_with", "value": "/spring-sale"}, {}, True),
    ({"field": "link.short_url", "operator": "ends_with", "value": "/spring"}, {}, False),
    ({"field": "utm.term", "operator": "exists"}, {"utm__term": "shoes"}, True),
    ({"field": "utm.term", "operator": "exists"}, {}, False),
    ({"field": "utm.term", "operator": "exists", "value": None}, {"utm__term": "shoes"}, True),
    ({"field": "utm.term", "operator": "not_exists"}, {}, True),
    ({"field": "utm.term", "operator": "not_exists"}, {"utm__term": "shoes"}, False),
    ({"field": "utm.campaign", "operator": "matches", "value": r"^spring_sale_\d{4}$"}, {}, True),
    ({"field": "utm.campaign", "operator": "matches", "value": r"sale_\d"}, {}, True),
    ({"field": "utm.campaign", "operator": "matches", "value": r"^sale"}, {}, False),
    ({"field": "utm.campaign", "operator": "matches", "value": r"SPRING"}, {}, False),
    ({"field": "utm.campaign", "operator": "matches", "value": r"(?i)SPRING"}, {}, True),
]
NUMBER_CASES: list[tuple[str, float, bool]] = [
    ("eq", 49.9, True),
    ("eq", 50, False),
    ("neq", 50, True),
    ("gt", 49.8, True),
    ("gt", 49.9, False),
    ("gte", 49.9, True),
    ("gte", 50, False),
    ("lt", 50, True),
    ("lt", 49.9, False),
    ("lte", 49.9, True),
    ("lte", 49, False),
]


@pytest.mark.parametrize(("condition", "changes", "expected"), OPERATOR_CASES)
def test_operator_on_present_field(condition: dict[str, Any], changes: dict[str, Any], expected: bool) -> None:
    assert holds(condition, make_event(**changes)) is expected


@pytest.mark.parametrize(("op", "target", "expected"), NUMBER_CASES)
def test_number_operators_compare_conversion_value(op: str, target: float, expected: bool) -> None:
    condition = {"field": "conversion.value", "operator": op, "value": target}
    assert holds(condition, make_event("conversion.sale")) is expected


def test_integral_numbers_compare_equal_across_int_and_float() -> None:
    condition = {"field": "conversion.value", "operator": "eq", "value": 50}
    assert holds(condition, make_event("conversion.sale", conversion__value=50.0))
    assert holds(
        {**condition, "operator": "in", "value": [1, 50.0]}, make_event("conversion.sale", conversion__value=50)
    )


MISSING_FIELD_CASES: list[tuple[dict[str, Any], Any, Any]] = [case for case in OPERATOR_CASES if not case[1]] + [
    ({"field": "conversion.value", "operator": op, "value": target}, {}, None) for op, target, _ in NUMBER_CASES
]


@pytest.mark.parametrize(("condition", "_changes", "_expected"), MISSING_FIELD_CASES)
def test_missing_or_null_field_makes_every_operator_false_except_not_exists(
    condition: dict[str, Any], _changes: Any, _expected: Any
) -> None:
    field = condition["field"]
    parent, key = field.split(".") if "." in field else ("", field)
    location = f"{parent}__{key}" if parent else key
    expected = condition["operator"] == "not_exists"
    absent = make_event("conversion.sale", **{location: None})
    null = make_event("conversion.sale")
    (null.setdefault(parent, {}) if parent else null)[key] = None
    assert holds(condition, absent) is expected
    assert holds(condition, null) is expected


@pytest.mark.parametrize("operator", ["neq", "not_in", "not_contains"])
def test_negative_operators_do_not_match_events_without_the_field(operator: str) -> None:
    value: Any = ["FR"] if operator == "not_in" else "FR"
    assert not holds({"field": "context.country", "operator": operator, "value": value}, make_event(context={}))


def test_occurred_at_orders_chronologically_across_offsets() -> None:
    event = make_event(occurred_at="2026-03-30T12:00:00.000Z")
    assert holds({"field": "occurred_at", "operator": "gt", "value": "2026-03-30T13:59:59.999+02:00"}, event)
    assert not holds({"field": "occurred_at", "operator": "gt", "value": "2026-03-30T14:00:00+02:00"}, event)
    assert holds({"field": "occurred_at", "operator": "gte", "value": "2026-03-30T14:00:00+02:00"}, event)
    assert holds({"field": "occurred_at", "operator": "lt", "value": "2026-03-30T12:00:00.001Z"}, event)
    assert holds({"field": "occurred_at", "operator": "lte", "value": "2026-03-30T07:00:00-05:00"}, event)


def test_matches_only_looks_at_the_first_characters_of_a_value() -> None:
    condition = {"field": "context.referrer", "operator": "matches", "value": "needle"}
    near = "x" * (MATCH_INPUT_LIMIT - len("needle")) + "needle"
    far = "x" * MATCH_INPUT_LIMIT + "needle"
    assert holds(condition, make_event(context__referrer=near))
    assert not holds(condition, make_event(context__referrer=far))
    anchored_end = {**condition, "value": "needle$"}
    assert holds(anchored_end, make_event(context__referrer=near))


@pytest.mark.parametrize(
    "event",
    [
        make_event(type=["link.clicked"]),
        make_event(context="US"),
        make_event(link__tag_ids=[{"id": 1}, [TAG], TAG]),
        make_event(link__tag_ids=TAG),
        make_event(conversion={"value": "49.9"}),
        make_event(utm__campaign=12345),
        make_event(bot_flag=1),
    ],
)
def test_values_of_the_wrong_type_behave_as_missing_and_never_raise(event: dict[str, Any]) -> None:
    kitchen_sink = {
        "include": {"event_types": ["link.clicked"]},
        "exclude": {"tag_ids": ["tag_other"]},
        "conditions": [
            {"any": [{"field": "utm.campaign", "operator": "matches", "value": "1"}]},
            {"field": "conversion.value", "operator": "neq", "value": 1},
            {"field": "bot_flag", "operator": "neq", "value": True},
        ],
    }
    verdict = evaluate(kitchen_sink, event)
    assert verdict.passed is False
    assert verdict.rejected_by is not None


def test_wrongly_typed_tag_list_still_matches_its_string_tags() -> None:
    event = make_event(link__tag_ids=[{"id": 1}, TAG])
    assert evaluate({"include": {"tag_ids": [TAG]}}, event).passed
    assert evaluate({"exclude": {"tag_ids": [TAG]}}, event).rejected_by == "exclude.tag_ids"


# -- any groups ------------------------------------------------------------------------------------------------

US = {"field": "context.country", "operator": "eq", "value": "US"}
FR = {"field": "context.country", "operator": "eq", "value": "FR"}
QR = {"field": "touch_type", "operator": "eq", "value": "qr_scan"}


def test_any_group_holds_when_one_item_holds() -> None:
    assert holds({"any": [FR, US]}, make_event())
    assert not holds({"any": [FR, QR]}, make_event())


def test_nested_groups_combine_or_inside_and() -> None:
    nested = {"any": [FR, {"any": [QR, {"any": [US]}]}]}
    assert holds(nested, make_event())
    assert not holds(nested, make_event(context__country="DE"))


def test_rejection_names_the_top_level_condition_of_a_failing_group() -> None:
    verdict = evaluate({"conditions": [US, {"any": [FR, QR]}]}, make_event())
    assert verdict == FilterVerdict(passed=False, rejected_by="conditions[1]")


# -- save-time validation --------------------------------------------------------------------------------------


def test_empty_filter_is_valid_and_round_trips() -> None:
    full = {
        "include": {"event_types": ["link.clicked"], "countries": ["US"], "tag_ids": ["t1"]},
        "exclude": {"touch_types": ["qr_scan"], "bot_traffic": True},
        "conditions": [US, {"any": [FR, {"field": "utm.term", "operator": "exists"}]}],
    }
    assert EventFilter.model_validate({}) == EventFilter()
    parsed = EventFilter.model_validate(full)
    assert EventFilter.model_validate(parsed.model_dump(mode="json")) == parsed
    assert EventFilter.model_validate_json(parsed.model_dump_json()) == parsed


def only_error(filter_data: Any) -> tuple[tuple[int | str, ...], str]:
    found = errors(filter_data)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("filter_data", "loc", "message"),
    [
        ({"include": {"event_types": ["link.clicked", "nim.webhook.test"]}}, ("include", "event_types", 1), "unknown"),
        ({"exclude": {"event_types": ["link.created"]}}, ("exclude", "event_types", 0), "unknown event type"),
        ({"include": {"touch_types": ["email"]}}, ("include", "touch_types", 0), "unknown touch type 'email'"),
        ({"include": {"countries": ["US", "fr"]}}, ("include", "countries", 1), "'fr' is not an ISO-3166 alpha-2"),
        ({"exclude": {"countries": ["USA"]}}, ("exclude", "countries", 0), "'USA' is not an ISO-3166 alpha-2"),
        ({"include": {"domain_ids": [""]}}, ("include", "domain_ids", 0), "at least 1 character"),
        ({"include": {"colours": ["red"]}}, ("include", "colours"), "Extra inputs are not permitted"),
        ({"exclude": {"bot_traffic": "sometimes"}}, ("exclude", "bot_traffic"), "valid boolean"),
        ({"conditions": {"field": "utm.source"}}, ("conditions",), "valid list"),
        ({"conditions": ["context.country = US"]}, ("conditions", 0), "a condition must be an object"),
        ({"conditions": [{"any": []}]}, ("conditions", 0, "any"), "at least 1 item"),
        ({"conditions": [{"any": [US], "field": "utm.source"}]}, ("conditions", 0, "field"), "Extra inputs"),
        ({"conditions": [{**US, "negate": True}]}, ("conditions", 0, "negate"), "Extra inputs are not permitted"),
        ({"conditions": [US, {**US, "field": "context.contry"}]}, ("conditions", 1, "field"), "did you mean"),
        ({"conditions": [{"any": [US, {**US, "value": 1}]}]}, ("conditions", 0, "any", 1, "value"), "must be a string"),
    ],
)  # fmt: skip
def test_invalid_filters_report_the_bad_item_precisely(
    filter_data: dict[str, Any], loc: tuple[Any, ...], message: str
) -> None:
    found_loc, found_message = only_error(filter_data)
    assert found_loc == loc
    assert message in found_message


@pytest.mark.parametrize(
    ("field", "operator", "message"),
    [
        ("link", "exists", "unknown canonical event field 'link'"),
        ("utm.source", "equals", "Input should be 'eq'"),
        ("utm.source", "gt", "operator 'gt' does not apply to the string field 'utm.source'"),
        ("conversion.value", "contains", "use one of: eq, neq, in, not_in, exists, not_exists, gt, gte, lt, lte"),
        ("link.tag_ids", "eq", "use one of: contains, not_contains, exists, not_exists"),
        ("bot_flag", "in", "does not apply to the boolean field 'bot_flag'; use one of: eq, neq, exists, not_exists"),
    ],
)
def test_unknown_fields_and_unfit_operators_are_reported_on_their_key(field: str, operator: str, message: str) -> None:
    found_loc, found_message = only_error({"conditions": [{"field": field, "operator": operator, "value": "x"}]})
    assert found_loc == ("conditions", 0, "field" if field == "link" else "operator")
    assert message in found_message


ABSENT = object()


@pytest.mark.parametrize(
    ("field", "operator", "value", "message"),
    [
        ("utm.source", "eq", ABSENT, "operator 'eq' needs a value"),
        ("utm.source", "eq", None, "operator 'eq' needs a value"),
        ("utm.source", "eq", 3, "value must be a string, not number"),
        ("utm.source", "starts_with", ["x"], "value must be a string, not list"),
        ("utm.source", "eq", "x" * 1001, "longer than 1000 characters"),
        ("bot_flag", "eq", "true", "value must be true or false, not string"),
        ("conversion.value", "gt", "10", "value must be a number, not string"),
        ("conversion.value", "lte", True, "value must be a number, not boolean"),
        ("conversion.value", "eq", float("inf"), "value must be a number"),
        ("utm.source", "in", "x", "operator 'in' needs a non-empty list, not string"),
        ("utm.source", "not_in", [], "needs a non-empty list"),
        ("utm.source", "in", ["a", 2], "value[1] must be a string, not number"),
        ("conversion.value", "not_in", [1, "2"], "value[1] must be a number, not string"),
        ("utm.source", "in", ["a"] * 501, "at most 500 values"),
        ("utm.source", "exists", "x", "operator 'exists' takes no value"),
        ("utm.source", "not_exists", False, "operator 'not_exists' takes no value"),
        ("link.tag_ids", "contains", ["t"], "value must be a string, not list"),
        ("occurred_at", "gt", "2026-03-30", "RFC 3339 timestamp"),
        ("occurred_at", "gte", "2026-03-30T12:00:00", "with a timezone"),
        ("occurred_at", "gt", "2026-03-30T12:00:00.1234Z", "at most millisecond precision"),
        ("occurred_at", "lt", "2026-02-30T12:00:00Z", "must be a real date and time (day is out of range for month)"),
        ("occurred_at", "lt", "2026-03-30T23:59:60Z", "must be a real date and time (second must be in 0..59)"),
        ("occurred_at", "gt", "0001-01-01T00:00:00.000+01:00", "must be a date and time within the years 1 to 9999"),
        ("occurred_at", "lt", "9999-12-31T23:00:00-05:00", "must be a date and time within the years 1 to 9999"),
        ("utm.source", "matches", 5, "needs a regular expression string"),
    ],
)
def test_values_that_do_not_fit_the_operator_and_field_are_reported_on_value(
    field: str, operator: str, value: Any, message: str
) -> None:
    condition = {"field": field, "operator": operator} | ({} if value is ABSENT else {"value": value})
    found_loc, found_message = only_error({"conditions": [condition]})
    assert found_loc == ("conditions", 0, "value")
    assert message in found_message


def test_every_include_and_exclude_list_is_bounded() -> None:
    assert errors({"include": {"tag_ids": ["t"] * 501}})[0][0] == ("include", "tag_ids")
    assert errors({"exclude": {"domain_ids": ["d"] * 501}})[0][0] == ("exclude", "domain_ids")
    assert EventFilter.model_validate({"include": {"tag_ids": ["t"] * 500}})


def test_condition_count_is_bounded_across_groups() -> None:
    group = {"any": [US] * 25}
    assert EventFilter.model_validate({"conditions": [group, group]})
    found = errors({"conditions": [group, group, US]})
    assert found == [(("conditions", 2), "a filter holds at most 50 conditions")]
    found = errors({"conditions": [US, group, group]})
    assert found == [(("conditions", 2, "any", 24), "a filter holds at most 50 conditions")]


def test_group_nesting_is_bounded() -> None:
    three_deep = {"any": [{"any": [{"any": [US]}]}]}
    assert EventFilter.model_validate({"conditions": [three_deep]})
    found = errors({"conditions": [{"any": [three_deep]}]})
    assert found == [(("conditions", 0, "any", 0, "any", 0, "any", 0), "`any` groups nest at most 3 deep")]


def test_hostile_nesting_fails_cleanly_instead_of_exhausting_the_stack() -> None:
    deep: dict[str, Any] = US
    for _ in range(5000):
        deep = {"any": [deep]}
    assert errors({"conditions": [deep]})[0][1] == "`any` groups nest at most 3 deep"


# -- regular expression safety ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a+)+$", "a repeated group must not contain a repeat or an alternation"),
        ("(a*)*b", "a repeated group must not contain a repeat"),
        ("(?:x+y?)+z", "a repeated group must not contain a repeat"),
        ("(a|ab)*c", "a repeated group must not contain a repeat or an alternation"),
        ("^(\\w+\\s?)*$", "a repeated group must not contain a repeat"),
        ("(a+){2,5}", "a repeated group must not contain a repeat"),
        ("(\\w+)-\\1", "backreferences"),
        ("(?P<p>a)(?(p)b|c)", "backreferences and conditional groups"),
        ("\\w+\\d+x", "could backtrack for too long"),
        (".*a.*b", "could backtrack for too long"),
        ("^.*a.*b.*c", "could backtrack for too long"),
        ("(?m)^\\w+\\d+x", "could backtrack for too long"),
        ("a?" * 30 + "b", "could backtrack for too long"),
        ("\\w{1,70}\\d{1,70}x", "could backtrack for too long"),
        ("x" * 201, "longer than 200 characters"),
        ("(unclosed", "invalid regular expression: missing ), unterminated subpattern"),
        ("a{99999999999}", "invalid regular expression"),
        ("(?<=a+)b", "invalid regular expression"),
    ],
)
def test_dangerous_or_invalid_patterns_are_refused(pattern: str, message: str) -> None:
    found = errors({"conditions": [{"field": "context.referrer", "operator": "matches", "value": pattern}]})
    assert found[0][0] == ("conditions", 0, "value")
    assert message in found[0][1]


@pytest.mark.parametrize(
    "pattern",
    [
        r"^spring_\d+$",
        r"^[a-z]+-[0-9]+$",
        r"\Autm_\w+_\d+",
        r"instagram|facebook|tiktok",
        r"^https://(www\.)?example\.com/",
        r"(ab)+c",
        r"(a|b)+c",
        r"a++b+c",
        r"\d{4}-\d{2}",
        r"(?i)^promo",
        r"campaign.*2026",
    ],
)
def test_common_patterns_are_accepted(pattern: str) -> None:
    assert EventFilter.model_validate(
        {"conditions": [{"field": "context.referrer", "operator": "matches", "value": pattern}]}
    )


# -- can_match_any ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_data", "expected"),
    [
        ({}, True),
        (SEED_FILTER, False),
        ({"include": {"event_types": ["link.clicked", "conversion.sale"]}}, True),
        ({"exclude": {"event_types": list(CONVERSION_EVENT_TYPES)}}, False),
        ({"exclude": {"event_types": ["conversion.lead"]}}, True),
        ({"include": {"event_types": ["conversion.lead"]}, "exclude": {"event_types": ["conversion.lead"]}}, False),
        ({"include": {"countries": ["US"]}, "exclude": {"bot_traffic": True}}, True),
    ],
)
def test_can_match_any_detects_filters_that_never_match_conversions(
    filter_data: dict[str, Any], expected: bool
) -> None:
    assert EventFilter.model_validate(filter_data).can_match_any(CONVERSION_EVENT_TYPES) is expected


def test_can_match_any_accepts_any_iterable_and_nothing_matches_no_types() -> None:
    event_filter = EventFilter.model_validate({"include": {"event_types": ["card.viewed"]}})
    assert event_filter.can_match_any(iter(["link.clicked", "card.viewed"]))
    assert not event_filter.can_match_any([])


# -- operational notices -------------------------------------------------------------------------------------


@pytest.mark.parametrize("notice_type", NOTICE_EVENT_TYPES)
def test_notices_reach_only_filters_that_list_them(notice_type: str) -> None:
    notice = {"type": notice_type, "bot_flag": None}
    everything = compile_filter(EventFilter())
    assert everything.evaluate(notice) == FilterVerdict(passed=False, rejected_by="include.event_types")
    listed = compile_filter(EventFilter.model_validate({"include": {"event_types": [notice_type]}}))
    assert listed.evaluate(notice).passed
    assert not listed.evaluate({"type": "link.clicked"}).passed


def test_an_empty_include_list_still_matches_every_recorded_event_type() -> None:
    everything = compile_filter(EventFilter())
    assert all(everything.evaluate({"type": event_type}).passed for event_type in EVENT_TYPES)


def test_notice_types_can_be_excluded_and_are_known_to_validation() -> None:
    excluded = EventFilter.model_validate({"exclude": {"event_types": ["destination.failing"]}})
    assert not compile_filter(excluded).evaluate({"type": "destination.failing"}).passed
    with pytest.raises(ValidationError, match=r"expected one of: .*destination\.failing"):
        EventFilter.model_validate({"include": {"event_types": ["destination.failed"]}})
