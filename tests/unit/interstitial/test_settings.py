"""The interstitial_settings schema: per-platform id formats, event allowlists, bounds, plain-text consent."""

from __future__ import annotations

from typing import Any

import pytest

from nimriz_destinations.errors import Problem
from nimriz_destinations.interstitial.platforms import PLATFORMS
from nimriz_destinations.interstitial.settings import InterstitialSettings, settings_problems
from tests.browser.builders import settings_body

WHERE = "actions[0].settings"
INJECTIONS = [
    '"><script>alert(1)</script>',
    "123456789012345');alert(1);//",
    "123456789012345\n",
    "1234567890123<b>",
    "١٢٣٤٥٦٧٨٩٠١٢٣٤٥",  # non-ASCII digits
    "javascript:alert(1)",
    "",
]
VALID_IDS = {
    "meta": ["123456789012345", "1234567890123456"],
    "tiktok": ["CABCDEFGHIJKLMNOPQ12", "C4A1B2C3D4E5F6G7H8I9"],
    "google_tag": ["G-ABC1234567", "GT-ABCD123", "AW-123456789"],
    "linkedin": ["598178", "1234567"],
    "x": ["nyl43", "o0lc5"],
}
INVALID_IDS = {
    "meta": ["12345678901234", "12345678901234567", "12345678901234a"],
    "tiktok": ["cabcdefghijklmnopq12", "CABCDEFGHIJKLMNOPQ1", "CABCDEFGHIJKLMNOPQ123", "CABCDEFGHIJ-LMNOPQ12"],
    "google_tag": ["UA-12345-1", "G-abc1234567", "AW-ABCDEFGHI", "GTM-ABC123", "g-ABC1234567"],
    "linkedin": ["123", "12345a", "1234567890123"],
    "x": ["NYL43", "ny", "nyl43-", "tw-nyl43-abcde"],
}


def problems(settings: dict[str, Any] | None) -> list[Problem]:
    return settings_problems(settings, WHERE)


def with_pixel(platform: str, pixel_id: str, events: list[str] | None = None) -> dict[str, Any]:
    pixel = {"platform": platform, "pixel_id": pixel_id, "events": events or [PLATFORMS[platform].events[0]]}
    return settings_body(pixels=[pixel])


@pytest.mark.parametrize(("platform", "pixel_id"), [(p, i) for p, ids in VALID_IDS.items() for i in ids])
def test_each_platforms_id_format_is_accepted(platform: str, pixel_id: str) -> None:
    assert problems(with_pixel(platform, pixel_id)) == []


@pytest.mark.parametrize(("platform", "pixel_id"), [(p, i) for p, ids in INVALID_IDS.items() for i in ids])
def test_ids_outside_the_platforms_format_are_rejected_at_the_pixel_id(platform: str, pixel_id: str) -> None:
    (problem,) = problems(with_pixel(platform, pixel_id))
    assert problem.path == f"{WHERE}.pixels[0].pixel_id"
    assert PLATFORMS[platform].label in problem.reason


@pytest.mark.parametrize("platform", list(PLATFORMS))
@pytest.mark.parametrize("pixel_id", INJECTIONS)
def test_injection_attempts_never_pass_as_an_id(platform: str, pixel_id: str) -> None:
    found = problems(with_pixel(platform, pixel_id))
    assert [p.path for p in found] == [f"{WHERE}.pixels[0].pixel_id"]


def test_an_id_of_the_wrong_type_is_rejected_not_coerced() -> None:
    body = settings_body(pixels=[{"platform": "linkedin", "pixel_id": 598178, "events": ["PageView"]}])
    assert [p.path for p in problems(body)] == [f"{WHERE}.pixels[0].pixel_id"]


@pytest.mark.parametrize(
    ("platform", "pixel_id", "event"),
    [
        ("meta", "123456789012345", "Purchase"),  # needs value and currency: not for an interstitial
        ("meta", "123456789012345", "page_view"),
        ("tiktok", "CABCDEFGHIJKLMNOPQ12", "CompletePayment"),
        ("google_tag", "G-ABC1234567", "PageView"),
        ("google_tag", "AW-123456789", "conversion"),
        ("linkedin", "598178", "ViewContent"),
        ("x", "nyl43", "tw-nyl43-abcde"),
        ("meta", "123456789012345", "PageView');alert(1);//"),
    ],
)
def test_events_outside_the_platforms_allowlist_are_rejected(platform: str, pixel_id: str, event: str) -> None:
    (problem,) = problems(with_pixel(platform, pixel_id, [event]))
    assert problem.path == f"{WHERE}.pixels[0].events"
    assert repr(event) in problem.reason and "use:" in problem.reason


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_every_allowlisted_event_is_accepted(platform: str) -> None:
    pixel_id = VALID_IDS[platform][0]
    assert problems(with_pixel(platform, pixel_id, list(PLATFORMS[platform].events))) == []


def test_an_event_listed_twice_is_rejected() -> None:
    (problem,) = problems(with_pixel("meta", "123456789012345", ["PageView", "PageView"]))
    assert problem.path == f"{WHERE}.pixels[0].events"


def test_a_pixel_listed_twice_is_rejected_with_both_positions() -> None:
    pixel = {"platform": "meta", "pixel_id": "123456789012345", "events": ["PageView"]}
    (problem,) = problems(settings_body(pixels=[pixel, {**pixel, "events": ["Lead"]}]))
    assert problem.path == f"{WHERE}.pixels"
    assert "pixels[0] and pixels[1]" in problem.reason


@pytest.mark.parametrize("count", [0, 11])
def test_one_to_ten_pixels(count: int) -> None:
    pixels = [{"platform": "linkedin", "pixel_id": str(100000 + n), "events": ["PageView"]} for n in range(count)]
    assert [p.path for p in problems(settings_body(pixels=pixels))] == [f"{WHERE}.pixels"]


def test_ten_pixels_are_accepted() -> None:
    pixels = [{"platform": "linkedin", "pixel_id": str(100000 + n), "events": ["PageView"]} for n in range(10)]
    assert problems(settings_body(pixels=pixels)) == []


@pytest.mark.parametrize("delay_ms", [0, 5000])
def test_delay_bounds_are_inclusive(delay_ms: int) -> None:
    assert problems(settings_body(delay_ms=delay_ms)) == []


@pytest.mark.parametrize("delay_ms", [-1, 5001, True, "800", 800.5])
def test_delay_outside_bounds_or_not_an_integer_is_rejected(delay_ms: Any) -> None:
    assert [p.path for p in problems(settings_body(delay_ms=delay_ms))] == [f"{WHERE}.delay_ms"]


def test_consent_is_an_explicit_choice() -> None:
    body = settings_body()
    del body["consent"]
    assert problems(body) == [Problem(f"{WHERE}.consent", "field required")]


def test_required_consent_needs_a_notice() -> None:
    (problem,) = problems(settings_body(consent={"required": True}))
    assert problem == Problem(f"{WHERE}.consent.notice", "a notice is required when consent is required")


def test_consent_not_required_needs_no_notice_and_defaults_are_explicit() -> None:
    settings = InterstitialSettings.model_validate(settings_body(consent={"required": False}))
    assert settings.consent.notice is None
    assert settings.consent.on_decline == "continue_without_pixels"
    assert (settings.consent.accept_label, settings.consent.decline_label) == ("Accept", "Decline")


def test_declining_can_only_continue_without_pixels() -> None:
    body = settings_body(consent={"required": True, "notice": "Pixels.", "on_decline": "block"})
    assert [p.path for p in problems(body)] == [f"{WHERE}.consent.on_decline"]


@pytest.mark.parametrize(
    "notice",
    [
        "<b>bold</b>",
        "Click <a href=x>here</a>",
        "tab\there",
        "null\x00byte",
        "bidi \u202eoverride",
        "x" * 501,
        "   ",
    ],
)
def test_the_notice_is_plain_text_of_at_most_500_characters(notice: str) -> None:
    body = settings_body(consent={"required": True, "notice": notice})
    assert [p.path for p in problems(body)] == [f"{WHERE}.consent.notice"]


def test_a_notice_keeps_line_breaks_and_ampersands() -> None:
    notice = "Terms & conditions apply.\nSee our privacy policy."
    settings = InterstitialSettings.model_validate(settings_body(consent={"required": True, "notice": notice}))
    assert settings.consent.notice == notice


@pytest.mark.parametrize("field", ["accept_label", "decline_label"])
@pytest.mark.parametrize("label", ["<i>OK</i>", "x" * 41, ""])
def test_button_labels_are_short_plain_text(field: str, label: str) -> None:
    body = settings_body(consent={"required": True, "notice": "Pixels.", field: label})
    assert [p.path for p in problems(body)] == [f"{WHERE}.consent.{field}"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (settings_body(link_ids=["x"]), f"{WHERE}.link_ids"),
        (settings_body(consent={"required": False, "text": "x"}), f"{WHERE}.consent.text"),
        (
            settings_body(pixels=[{"platform": "meta", "pixel_id": "123456789012345", "events": ["PageView"], "x": 1}]),
            f"{WHERE}.pixels[0].x",
        ),
    ],
)
def test_unknown_fields_are_rejected_where_they_are(body: dict[str, Any], path: str) -> None:
    assert problems(body) == [Problem(path, "unknown field")]


def test_an_unknown_platform_is_rejected_without_id_or_event_noise() -> None:
    body = settings_body(pixels=[{"platform": "pinterest", "pixel_id": "2612345678901", "events": ["pagevisit"]}])
    assert [p.path for p in problems(body)] == [f"{WHERE}.pixels[0].platform"]


def test_missing_settings_are_a_problem_for_an_interstitial_action() -> None:
    assert [p.path for p in problems(None)] == [WHERE]
