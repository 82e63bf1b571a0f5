from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from nimriz_destinations.clock import iso_utc
from nimriz_destinations.event_fields import (
    CONVERSION_EVENT_TYPES,
    EVENT_FIELDS,
    EVENT_OBJECTS,
    EVENT_TYPES,
    FORBIDDEN_PATHS,
    STRICT_PRIVACY_FIELDS,
    TOUCH_TYPES,
    FieldType,
    compile_path,
    require_field,
)

# Written out from design §4 on purpose, so a change to the catalogue has to be a change to this test too.
DESIGN_FIELDS = (
    "id type api_version occurred_at organization_id workspace_id touch_type bot_flag privacy_mode",
    "link.url_id link.domain_id link.domain_name link.short_code link.short_url link.destination_host "
    "link.destination_url_capped link.space_id link.tag_ids",
    "context.country context.region context.city context.colo context.device_category context.browser_family "
    "context.os_family context.referrer context.referrer_host context.social_source",
    "utm.source utm.medium utm.campaign utm.term utm.content",
    "click_ids.gclid click_ids.gbraid click_ids.wbraid click_ids.fbclid click_ids.ttclid click_ids.li_fat_id "
    "click_ids.msclkid",
    "visitor.visitor_hash visitor.click_id",
    "conversion.outcome conversion.conversion_name conversion.value conversion.currency conversion.click_token "
    "conversion.original_event_id conversion.original_value conversion.email conversion.phone",
    "consent.ad_user_data consent.ad_personalization",
)


def test_catalogue_holds_exactly_the_design_fields() -> None:
    expected = {path for line in DESIGN_FIELDS for path in line.split()}
    assert set(EVENT_FIELDS) == expected


def test_only_bot_flag_values_and_tag_ids_are_not_strings() -> None:
    non_strings = {path: kind for path, kind in EVENT_FIELDS.items() if kind is not FieldType.STRING}
    assert non_strings == {
        "bot_flag": FieldType.BOOLEAN,
        "conversion.value": FieldType.NUMBER,
        "conversion.original_value": FieldType.NUMBER,
        "link.tag_ids": FieldType.STRING_LIST,
    }


def test_objects_list_their_sub_fields_in_catalogue_order() -> None:
    assert EVENT_OBJECTS["visitor"] == ("visitor_hash", "click_id")
    assert {f"{name}.{key}" for name, keys in EVENT_OBJECTS.items() for key in keys} == {
        path for path in EVENT_FIELDS if "." in path
    }


def test_catalogue_cannot_be_modified() -> None:
    with pytest.raises(TypeError):
        EVENT_FIELDS["new.field"] = FieldType.STRING  # type: ignore[index]


def test_event_types_are_the_nine_of_the_design() -> None:
    assert EVENT_TYPES == (
        "link.clicked",
        "link.qr_scanned",
        "card.viewed",
        "card.link_clicked",
        "conversion.lead",
        "conversion.sale",
        "conversion.refund",
        "conversion.cancellation",
        "conversion.reversal",
    )
    assert tuple(t for t in EVENT_TYPES if t.startswith("conversion.")) == CONVERSION_EVENT_TYPES
    assert TOUCH_TYPES == ("short_link_click", "qr_scan")


def test_strict_privacy_fields_are_catalogue_paths_and_forbidden_paths_are_not() -> None:
    assert STRICT_PRIVACY_FIELDS == ("visitor.visitor_hash", "context.city", "context.region")
    assert set(STRICT_PRIVACY_FIELDS) <= set(EVENT_FIELDS)
    assert not set(FORBIDDEN_PATHS) & set(EVENT_FIELDS)


EVENT: dict[str, Any] = {
    "type": "link.clicked",
    "bot_flag": False,
    "touch_type": None,
    "link": {"tag_ids": [], "short_code": "abc"},
    "context": "not an object",
    "extra": {"deep": {"value": 0}},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("type", "link.clicked"),
        ("bot_flag", False),
        ("link.short_code", "abc"),
        ("link.tag_ids", []),
        ("extra.deep.value", 0),
        ("touch_type", None),
        ("missing", None),
        ("link.missing", None),
        ("utm.source", None),
        ("context.country", None),
        ("type.inner", None),
        ("extra.deep.value.below", None),
        ("a.b.c.d", None),
    ],
)
def test_a_compiled_path_returns_the_value_or_none_when_absent_or_null(path: str, expected: Any) -> None:
    assert compile_path(path)(EVENT) == expected


def test_require_field_returns_the_type_or_suggests_the_nearest_path() -> None:
    assert require_field("conversion.value") is FieldType.NUMBER
    with pytest.raises(
        ValueError, match=r"unknown canonical event field 'context.contry'; did you mean 'context.country'"
    ):
        require_field("context.contry")
    with pytest.raises(ValueError, match="unknown canonical event field 'link'"):
        require_field("link")


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 30, 12, 34, 56, 789999, tzinfo=UTC), "2026-03-30T12:34:56.789Z"),
        (datetime(2026, 3, 30, 14, 0, 0, tzinfo=timezone(timedelta(hours=2))), "2026-03-30T12:00:00.000Z"),
        (datetime(2026, 3, 30, 12, 0, 0, 5000), "2026-03-30T12:00:00.005Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05.000Z"),  # RFC 3339 years have four digits
    ],
)
def test_iso_utc_gives_utc_with_milliseconds_and_takes_naive_as_utc(moment: datetime, expected: str) -> None:
    assert iso_utc(moment) == expected
