from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from nimriz_destinations.event_fields import FORBIDDEN_PATHS, STRICT_PRIVACY_FIELDS, compile_path
from nimriz_destinations.mapping import PropertyMapping, apply_privacy, compile_mapping
from nimriz_destinations.sample_events import sample_event


def make_event(event_type: str = "link.clicked", privacy_mode: str = "standard") -> dict[str, Any]:
    return sample_event(
        event_type, workspace_id="ws_1", organization_id="org_1", privacy_mode=privacy_mode, event_id="evt_1"
    )


def segment_like(event: Mapping[str, Any]) -> dict[str, Any]:
    """A provider default mapping with nested objects copied from the event: new ones, as every adapter's are."""
    return {
        "event": "Link Clicked",
        "messageId": event["id"],
        "properties": {"country": event["context"]["country"], "city": event["context"].get("city")},
        "context": dict(event["context"]),
        "tags": list(event["link"]["tag_ids"]),
    }


def mapped(overrides: list[dict[str, Any]], event: dict[str, Any] | None = None, base: str = "default") -> Any:
    mapping = PropertyMapping.model_validate({"base": base, "overrides": overrides})
    return compile_mapping(mapping).apply(make_event() if event is None else event, segment_like)


def errors(mapping: Any) -> list[tuple[tuple[int | str, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        PropertyMapping.model_validate(mapping)
    return [(tuple(error["loc"]), error["msg"]) for error in caught.value.errors()]


# -- base ------------------------------------------------------------------------------------------------------


def test_default_base_without_overrides_is_the_provider_default() -> None:
    event = make_event()
    assert compile_mapping(PropertyMapping()).apply(event, segment_like) == segment_like(event)


def test_none_base_starts_from_an_empty_payload() -> None:
    assert mapped([], base="none") == {}
    assert mapped([{"type": "static", "to": "source", "value": "nimriz"}], base="none") == {"source": "nimriz"}


def test_mapped_payload_shares_nothing_with_the_event() -> None:
    event = make_event()
    untouched = copy.deepcopy(event)
    payload = mapped(
        [{"type": "exclude", "field": "context.country"}, {"type": "rename", "from": "tags", "to": "t"}], event
    )
    payload["context"]["colo"] = "changed"
    payload["t"].append("changed")
    assert "country" not in payload["context"]
    assert event == untouched


# -- each override type ----------------------------------------------------------------------------------------


def test_rename_moves_a_value_to_a_new_nested_path() -> None:
    payload = mapped([{"type": "rename", "from": "properties.country", "to": "traits.geo.country_code"}])
    assert "country" not in payload["properties"]
    assert payload["traits"] == {"geo": {"country_code": "US"}}


def test_rename_of_a_missing_path_changes_nothing() -> None:
    expected = segment_like(make_event())
    assert mapped([{"type": "rename", "from": "properties.nope", "to": "x"}]) == expected
    assert mapped([{"type": "rename", "from": "messageId.deeper", "to": "x"}]) == expected


def test_rename_moves_null_values_too() -> None:
    payload = mapped([{"type": "rename", "from": "properties.city", "to": "city"}], make_event(privacy_mode="strict"))
    assert payload["city"] is None
    assert "city" not in payload["properties"]


def test_setting_below_a_non_object_replaces_it() -> None:
    payload = mapped([{"type": "static", "to": "messageId.inner", "value": 1}])
    assert payload["messageId"] == {"inner": 1}


def test_exclude_removes_a_value_and_ignores_missing_paths() -> None:
    payload = mapped([{"type": "exclude", "field": "properties.country"}, {"type": "exclude", "field": "no.such"}])
    assert payload["properties"] == {"city": "San Francisco"}
    assert "no" not in payload


def test_include_copies_a_canonical_field_to_its_own_path_by_default() -> None:
    payload = mapped([{"type": "include", "field": "utm.campaign"}, {"type": "include", "field": "bot_flag"}])
    assert payload["utm"] == {"campaign": "spring_sale_2026"}
    assert payload["bot_flag"] is False


def test_include_copies_to_the_given_path() -> None:
    payload = mapped(
        [{"type": "include", "field": "conversion.value", "to": "properties.revenue"}], make_event("conversion.sale")
    )
    assert payload["properties"]["revenue"] == 49.9


def test_include_of_a_missing_or_null_field_sets_nothing() -> None:
    event = make_event()
    event["utm"]["term"] = None
    payload = mapped(
        [{"type": "include", "field": "utm.term"}, {"type": "include", "field": "conversion.value"}], event
    )
    assert payload == segment_like(event)


def test_included_lists_are_copies() -> None:
    event = make_event()
    payload = mapped([{"type": "include", "field": "link.tag_ids", "to": "tag_list"}], event)
    payload["tag_list"].clear()
    assert len(event["link"]["tag_ids"]) == 2


def test_static_sets_a_fresh_copy_of_its_value_every_time() -> None:
    compiled = compile_mapping(
        PropertyMapping.model_validate({"overrides": [{"type": "static", "to": "$source", "value": {"tags": ["a"]}}]})
    )
    first = compiled.apply(make_event(), segment_like)
    first["$source"]["tags"].append("mutated")
    assert compiled.apply(make_event(), segment_like)["$source"] == {"tags": ["a"]}


def test_template_substitutes_placeholders_and_renders_missing_as_empty() -> None:
    payload = mapped(
        [
            {"type": "template", "to": "label", "template": "{{link.short_code}}-{{ context.country }}"},
            {"type": "template", "to": "term", "template": "term={{utm.term}};"},
            {"type": "template", "to": "json", "template": "{v: {{bot_flag}}, tags: {{link.tag_ids}}}"},
        ]
    )
    assert payload["label"] == "spring-sale-US"
    assert payload["term"] == "term=;"
    assert (
        payload["json"]
        == '{v: false, tags: ["5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c","a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"]}'
    )


def test_lone_placeholder_keeps_the_value_type() -> None:
    payload = mapped(
        [
            {"type": "template", "to": "revenue", "template": "{{conversion.value}}"},
            {"type": "template", "to": "tags", "template": "{{ link.tag_ids }}"},
            {"type": "template", "to": "bot", "template": "{{bot_flag}}"},
            {"type": "template", "to": "missing", "template": "{{utm.term}}"},
            {"type": "template", "to": "padded", "template": " {{conversion.value}}"},
        ],
        make_event("conversion.sale"),
    )
    assert payload["revenue"] == 49.9
    assert payload["tags"] == make_event()["link"]["tag_ids"]
    assert payload["bot"] is False
    assert payload["missing"] == ""
    assert payload["padded"] == " 49.9"


def test_template_output_is_capped() -> None:
    event = make_event()
    event["context"]["referrer"] = "r" * 1500
    payload = mapped([{"type": "template", "to": "x", "template": "{{context.referrer}}{{context.referrer}}"}], event)
    assert payload["x"] == "r" * 2000


def test_a_lone_placeholder_of_a_value_too_long_to_cut_renders_as_missing() -> None:
    # A list or object cannot be cut like text: up to the cap it is copied, past it the template renders "".
    event = make_event()
    template = [{"type": "template", "to": "tags", "template": "{{link.tag_ids}}"}]
    event["link"]["tag_ids"] = ["t" * 1996]  # ["ttt…"]: exactly 2000 characters of JSON
    assert mapped(template, event)["tags"] == ["t" * 1996]
    event["link"]["tag_ids"] = ["t" * 1997]
    assert mapped(template, event)["tags"] == ""


# -- order -----------------------------------------------------------------------------------------------------


def test_overrides_apply_in_order() -> None:
    static_then_rename: list[dict[str, Any]] = [
        {"type": "static", "to": "a", "value": 1},
        {"type": "rename", "from": "a", "to": "b"},
    ]
    rename_then_static = list(reversed(static_then_rename))
    assert mapped(static_then_rename, base="none") == {"b": 1}
    assert mapped(rename_then_static, base="none") == {"a": 1}
    include_then_exclude = [
        {"type": "include", "field": "utm.source", "to": "s"},
        {"type": "exclude", "field": "s"},
    ]
    assert mapped(include_then_exclude, base="none") == {}


def test_include_and_template_read_the_event_not_the_payload() -> None:
    payload = mapped(
        [
            {"type": "exclude", "field": "properties.country"},
            {"type": "template", "to": "c", "template": "{{context.country}}"},
            {"type": "include", "field": "context.country", "to": "d"},
        ]
    )
    assert (payload["c"], payload["d"]) == ("US", "US")


# -- privacy ---------------------------------------------------------------------------------------------------


def test_strict_mode_fields_cannot_be_brought_back_by_any_override() -> None:
    overrides = [
        {"type": "include", "field": "visitor.visitor_hash", "to": "anonymousId"},
        {"type": "include", "field": "context.region"},
        {"type": "template", "to": "where", "template": "{{context.city}}"},
        {"type": "template", "to": "label", "template": "{{context.city}}/{{context.region}}/{{visitor.visitor_hash}}"},
    ]
    strict = make_event(privacy_mode="strict")
    strict_payload = mapped(overrides, strict)
    assert "anonymousId" not in strict_payload
    assert "region" not in strict_payload["context"]
    assert (strict_payload["where"], strict_payload["label"]) == ("", "//")
    standard_payload = mapped(overrides, make_event(privacy_mode="standard"))
    assert standard_payload["anonymousId"] == "vh_3f9a1c7e5b2d4086"
    assert (standard_payload["where"], standard_payload["label"]) == (
        "San Francisco",
        "San Francisco/CA/vh_3f9a1c7e5b2d4086",
    )


def test_strict_mode_applies_even_when_the_event_still_carries_the_fields() -> None:
    leaky = make_event(privacy_mode="standard")
    leaky["privacy_mode"] = "strict"
    payload = mapped(
        [{"type": "include", "field": "visitor.visitor_hash"}, {"type": "include", "field": "context.city", "to": "c"}],
        leaky,
    )
    assert payload["properties"]["city"] is None  # the default mapping saw the filtered event too
    assert "city" not in payload["context"]
    assert "c" not in payload
    assert "visitor" not in payload


def test_apply_privacy_drops_strict_fields_only_in_strict_mode() -> None:
    standard = make_event(privacy_mode="standard")
    strict = dict(standard, privacy_mode="strict")
    for path in STRICT_PRIVACY_FIELDS:
        assert compile_path(path)(apply_privacy(standard)) is not None
        assert compile_path(path)(apply_privacy(strict)) is None
    assert apply_privacy(strict)["visitor"] == {"click_id": "ck_8d1e6b2a9f4c7035"}


@pytest.mark.parametrize("privacy_mode", [None, "", "STRICT", "relaxed"])
def test_apply_privacy_fails_closed_on_a_missing_or_unknown_mode(privacy_mode: str | None) -> None:
    event = make_event()
    if privacy_mode is None:
        del event["privacy_mode"]
    else:
        event["privacy_mode"] = privacy_mode
    assert all(compile_path(path)(apply_privacy(event)) is None for path in STRICT_PRIVACY_FIELDS)


@pytest.mark.parametrize("privacy_mode", ["standard", "strict"])
def test_apply_privacy_always_drops_raw_ip_and_user_agent(privacy_mode: str) -> None:
    event = make_event(privacy_mode=privacy_mode)
    for path in FORBIDDEN_PATHS:
        parent, _, key = path.rpartition(".")
        (event[parent] if parent else event)[key] = "203.0.113.7"
    untouched = copy.deepcopy(event)
    cleaned = apply_privacy(event)
    assert all(compile_path(path)(cleaned) is None for path in FORBIDDEN_PATHS)
    assert cleaned["context"]["country"] == "US"
    assert event == untouched


def test_apply_privacy_keeps_an_event_without_such_fields_equal() -> None:
    event = make_event()
    assert apply_privacy(event) == event
    assert apply_privacy(event) is not event


# -- validation ------------------------------------------------------------------------------------------------


def test_empty_mapping_is_the_default_and_round_trips_with_from() -> None:
    overrides = [
        {"type": "rename", "from": "properties.country", "to": "country"},
        {"type": "exclude", "field": "tags"},
        {"type": "include", "field": "utm.source", "to": None},
        {"type": "static", "to": "$insert_id", "value": [1, {"a": None}]},
        {"type": "template", "to": "label", "template": "{{link.short_code}}"},
    ]
    assert PropertyMapping.model_validate({}) == PropertyMapping(base="default", overrides=[])
    parsed = PropertyMapping.model_validate({"base": "none", "overrides": overrides})
    assert parsed.model_dump(mode="json") == {"base": "none", "overrides": overrides}
    assert PropertyMapping.model_validate_json(parsed.model_dump_json()) == parsed
    schema = PropertyMapping.model_json_schema()
    assert "from" in schema["$defs"]["RenameOverride"]["properties"]


@pytest.mark.parametrize(
    ("override", "key", "message"),
    [
        ({"type": "rename", "from": "a..b", "to": "c"}, "from", "path 'a..b' has an empty segment"),
        ({"type": "rename", "from": "a", "to": "has space"}, "to", "may only use letters, digits"),
        ({"type": "rename", "from": "a", "to": ".x"}, "to", "empty segment"),
        ({"type": "rename", "from": "a", "to": ""}, "to", "empty segment"),
        ({"type": "rename", "from": "a", "to": "a.b.c.d.e.f.g.h.i"}, "to", "more than 8 segments"),
        ({"type": "rename", "from": "a", "to": "x" * 65}, "to", "longer than 64"),
        ({"type": "rename", "to": "x"}, "from", "Field required"),
        ({"type": "exclude", "field": "{{x}}"}, "field", "may only use letters"),
        ({"type": "include", "field": "context.nope"}, "field", "unknown canonical event field 'context.nope'"),
        ({"type": "include", "field": "visitor"}, "field", "unknown canonical event field 'visitor'"),
        ({"type": "include", "field": "utm.source", "to": "a/b"}, "to", "may only use letters"),
        ({"type": "static", "to": "x"}, "value", "Field required"),
        ({"type": "static", "to": "x", "value": "v" * 4100}, "value", "larger than 4096 characters"),
        ({"type": "static", "to": "x", "value": [[[[[[[[[1]]]]]]]]]}, "value", "nests deeper than 8 levels"),
        ({"type": "template", "to": "x", "template": "{{id}}", "extra": 1}, "extra", "Extra inputs"),
        ({"type": "copy", "from": "a", "to": "b"}, "type", "unknown override type 'copy'; expected one of: rename"),
        ({"from": "a", "to": "b"}, "type", "Field required"),
        ("rename a to b", None, "an override must be an object with a `type`"),
    ],
)  # fmt: skip
def test_invalid_overrides_report_the_bad_key(override: Any, key: str | None, message: str) -> None:
    found = errors({"overrides": [override]})
    assert len(found) == 1, found
    assert found[0][0] == ("overrides", 0) + ((key,) if key else ())
    assert message in found[0][1]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{link.short_code}", "'{{' at position 0 is never closed"),
        ("a}}b", "'}}' at position 1 closes no '{{'"),
        ("{{ }}", "empty placeholder at position 0"),
        ("{{{id}}}", "unbalanced braces in the placeholder"),
        ("ok {{nope}}", "placeholder at position 3: unknown canonical"),
        ("{{__import__('os').system('id')}}", "unknown canonical event field"),
        ("{{id|upper}}", "unknown canonical event field 'id|upper'"),
        ("x" * 1001, "at most 1000 characters"),
    ],
)
def test_invalid_templates_are_refused_with_the_reason(template: str, message: str) -> None:
    found = errors({"overrides": [{"type": "template", "to": "x", "template": template}]})
    assert len(found) == 1, found
    assert found[0][0] == ("overrides", 0, "template")
    assert message in found[0][1]


def test_paths_accept_provider_style_keys() -> None:
    mapping = {"overrides": [{"type": "rename", "from": "a-b.$insert_id", "to": "Properties.utm_source_2"}]}
    assert PropertyMapping.model_validate(mapping)


def test_fixed_output_is_bounded_per_action() -> None:
    # What a mapping writes whatever the event holds (paths, static values, template text) stays far under the
    # 64 KB a mapped event may have: 100 static values of up to 4096 characters each are refused together.
    values = [{"type": "static", "to": f"s{n}", "value": "v" * 4000} for n in range(4)]
    assert PropertyMapping.model_validate({"overrides": values}).fixed_output_problem() is None
    over = PropertyMapping.model_validate(
        {"overrides": [*values, {"type": "template", "to": "t", "template": "w" * 400}]}
    )
    assert "16384 bytes" in (over.fixed_output_problem() or "")
    many = [{"type": "static", "to": f"s{n}", "value": "v" * 4090} for n in range(100)]
    assert PropertyMapping.model_validate({"overrides": many}).fixed_output_problem() is not None


def test_base_and_override_count_are_checked() -> None:
    assert errors({"base": "provider"})[0][0] == ("base",)
    assert errors({"mode": "x"}) == [(("mode",), "Extra inputs are not permitted")]
    too_many = [{"type": "exclude", "field": "x"}] * 101
    assert errors({"overrides": too_many})[0][0] == ("overrides",)
    assert PropertyMapping.model_validate({"overrides": too_many[:100]})


def test_apply_to_private_matches_apply_on_the_privacy_filtered_event() -> None:
    from nimriz_destinations.mapping import PropertyMapping, apply_privacy, compile_mapping
    from nimriz_destinations.sample_events import sample_event

    event = sample_event("link.clicked", workspace_id="w", organization_id="o", privacy_mode="strict")
    overrides = [{"type": "template", "to": "where", "template": "{{context.country}}/{{context.city}}"}]
    mapping = compile_mapping(PropertyMapping.model_validate({"base": "default", "overrides": overrides}))
    default = dict  # the event's own fields as the default payload
    assert mapping.apply_to_private(apply_privacy(event), default) == mapping.apply(event, default)
    assert "city" not in mapping.apply(event, default).get("context", {})
