from __future__ import annotations

from nimriz_destinations.validation import format_path, problems_from_errors


def test_list_indexes_and_nested_fields_format_as_json_paths() -> None:
    assert format_path(("actions", 0, "event_filter", "include", "event_types", 2)) == (
        "actions[0].event_filter.include.event_types[2]"
    )


def test_union_member_tags_after_a_list_index_are_dropped() -> None:
    assert format_path(("actions", 1, "property_mapping", "overrides", 0, "rename", "from")) == (
        "actions[1].property_mapping.overrides[0].from"
    )


def test_fields_named_like_tags_are_kept_when_not_union_members() -> None:
    assert (
        format_path(("actions", 0, "event_filter", "include", "countries"))
        == "actions[0].event_filter.include.countries"
    )


def test_problems_use_plain_reasons() -> None:
    problems = problems_from_errors(
        [{"loc": ("colour",), "type": "extra_forbidden", "msg": "Extra inputs are not permitted"},
         {"loc": ("name",), "type": "missing", "msg": "Field required"},
         {"loc": ("x",), "type": "value_error", "msg": "Value error, bad thing"}],
        prefix="credentials",
    )  # fmt: skip
    assert [(p.path, p.reason) for p in problems] == [
        ("credentials.colour", "unknown field"),
        ("credentials.name", "field required"),
        ("credentials.x", "bad thing"),
    ]
