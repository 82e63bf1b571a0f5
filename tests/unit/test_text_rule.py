"""The text rule for human-facing strings: destination and action names, the consent notice and button labels."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nimriz_destinations.interstitial.settings import InterstitialSettings, settings_problems
from nimriz_destinations.models.destinations import DestinationCreate
from nimriz_destinations.text import checked_text
from tests.factories import INTERSTITIAL_SETTINGS, destination_body

CONTROLS = {
    "NUL": "name\x00",
    "SOH": "na\x01me",
    "unit separator": "na\x1fme",
    "DEL": "na\x7fme",
    "ESC sequence": "\x1b[31mred\x1b[0m",
    "CR": "first\rsecond",
    "LF": "first\nsecond",
    "CRLF": "first\r\nsecond",
    "NEL (C1)": "na\x85me",
    "CSI (C1)": "na\x9bme",
}
BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
SEPARATORS = ["\u2028", "\u2029"]
INVISIBLE_ONLY = [
    "",
    "   ",
    "\u200b\u200c\u200d",
    "\u2060\ufeff",
    "\u00ad",
    "\ufe0f\ufe0e",
    "\U000e0100",
    "\u3164\u115f\u1160\uffa0",
    "\u3000\u00a0\u2003",
    "\u034f\u2800",
]
INVISIBLES = "".join(INVISIBLE_ONLY)


def name_problems(name: str) -> list[tuple[str, str]]:
    """(path, reason) of each problem with `name` as the destination name and as its first action's name."""
    body = destination_body("segment", name=name)
    body["actions"][0]["name"] = name
    try:
        DestinationCreate.model_validate(body)
    except ValidationError as exc:
        return [(".".join(map(str, error["loc"])), error["msg"]) for error in exc.errors()]
    return []


def consent_problems(**consent: Any) -> list[tuple[str, str]]:
    settings = {**INTERSTITIAL_SETTINGS, "consent": {**INTERSTITIAL_SETTINGS["consent"], **consent}}
    return [(p.path, p.reason) for p in settings_problems(settings, "actions[0].settings")]


@pytest.mark.parametrize("value", CONTROLS.values(), ids=CONTROLS.keys())
def test_control_characters_are_refused_in_names_at_both_paths(value: str) -> None:
    problems = name_problems(value)
    assert [path for path, _ in problems] == ["name", "actions.0.name"]
    assert all("control characters" in reason for _, reason in problems)


@pytest.mark.parametrize("char", BIDI_CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_bidirectional_controls_are_refused_in_names(char: str) -> None:
    problems = name_problems(f"Invoice {char}fdp.exe")
    assert [path for path, _ in problems] == ["name", "actions.0.name"]
    assert all("bidirectional control" in reason and f"U+{ord(char):04X}" in reason for _, reason in problems)


@pytest.mark.parametrize("char", SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
def test_unicode_line_and_paragraph_separators_are_refused_in_names(char: str) -> None:
    problems = name_problems(f"first{char}second")
    assert [path for path, _ in problems] == ["name", "actions.0.name"]
    assert all("separators" in reason for _, reason in problems)


@pytest.mark.parametrize("value", INVISIBLE_ONLY, ids=lambda v: "+".join(f"U+{ord(c):04X}" for c in v) or "empty")
def test_a_name_with_nothing_visible_is_refused(value: str) -> None:
    problems = name_problems(value)
    assert [path for path, _ in problems] == ["name", "actions.0.name"]
    assert all("visible character" in reason for _, reason in problems)


def test_an_unpaired_surrogate_is_refused_because_it_cannot_be_stored_as_utf8() -> None:
    assert all("surrogate" in reason for _, reason in name_problems("name\ud800"))
    assert len(name_problems("name\ud800")) == 2


def test_names_are_stored_in_nfc_and_trimmed() -> None:
    body = destination_body("segment", name="  Cafe\u0301 events  ")
    body["actions"][0]["name"] = "A\u030angstr\u00f6m"
    created = DestinationCreate.model_validate(body)
    assert created.name == "Caf\u00e9 events"
    assert created.actions[0].name == "\u00c5ngstr\u00f6m"


def test_visible_text_with_zero_width_joiners_and_non_latin_scripts_is_kept() -> None:
    for name in ("👩\u200d💻 team", "مرحبا", "שלום עולם", "東京 🗼", "Zoë & Co. <beta>"):
        assert name_problems(name) == []


def test_the_length_limit_counts_the_nfc_form() -> None:
    # 200 decomposed "é" are 400 code points but 200 once composed: within the limit.
    body = destination_body("segment", name="e\u0301" * 200)
    assert DestinationCreate.model_validate(body).name == "\u00e9" * 200


def test_the_notice_may_break_lines_with_lf_but_not_cr_or_unicode_separators() -> None:
    assert consent_problems(notice="Pixels load.\nDecline to skip them.") == []
    for notice in ("Pixels load.\r\nDecline.", "Pixels load.\u2028Decline.", "Pixels load.\x0bDecline."):
        (problem,) = consent_problems(notice=notice)
        assert problem[0] == "actions[0].settings.consent.notice"


def test_the_notice_refuses_controls_bidi_and_invisible_only_text_naming_the_rule() -> None:
    cases = {
        "\x1b[2JPixels": "control characters",
        "Pixels \u202eelbisivni": "bidirectional control",
        "\u200b\u200b": "visible character",
        "<script>x</script>": "no markup",
    }
    for notice, rule in cases.items():
        (problem,) = consent_problems(notice=notice)
        assert problem[0] == "actions[0].settings.consent.notice" and rule in problem[1], (notice, problem)


@pytest.mark.parametrize("field", ["accept_label", "decline_label"])
@pytest.mark.parametrize("label", ["OK\nGo", "O\x00K", "\u2067OK", "\u200d", "<b>OK</b>"])
def test_button_labels_are_single_line_plain_visible_text(field: str, label: str) -> None:
    (problem,) = consent_problems(**{field: label})
    assert problem[0] == f"actions[0].settings.consent.{field}"


def test_consent_text_is_stored_in_nfc() -> None:
    consent = {**INTERSTITIAL_SETTINGS["consent"], "notice": "Cafe\u0301 pixels", "accept_label": "Oui, d'accord\u0300"}
    parsed = InterstitialSettings.model_validate({**INTERSTITIAL_SETTINGS, "consent": consent})
    assert parsed.consent.notice == "Caf\u00e9 pixels"
    assert parsed.consent.accept_label == unicodedata.normalize("NFC", "Oui, d'accord\u0300")


def _breaks_the_rule(stored: str, *, line_breaks: bool) -> bool:
    visible = [c for c in stored if not (c.isspace() or unicodedata.category(c) in ("Cf", "Zs") or c in INVISIBLES)]
    return (
        unicodedata.normalize("NFC", stored) != stored
        or any(unicodedata.category(c) in ("Cc", "Cs") and not (line_breaks and c == "\n") for c in stored)
        or any(c in BIDI_CONTROLS or c in SEPARATORS for c in stored)
        or not visible
    )


TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(
            [*BIDI_CONTROLS, *SEPARATORS, *INVISIBLES, "\n", "\r", "\x1b", "\x85", "\ud800", "e", "\u0301"]
        ),
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(TEXT, st.booleans())
def test_generated_text_is_refused_or_comes_back_nfc_without_controls(value: str, line_breaks: bool) -> None:
    try:
        stored = checked_text(value, line_breaks=line_breaks)
    except ValueError:
        return
    assert not _breaks_the_rule(stored, line_breaks=line_breaks), repr(stored)
    assert stored == unicodedata.normalize("NFC", value)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_generated_names_are_refused_at_their_path_or_stored_nfc_without_controls(name: str) -> None:
    body = destination_body("segment", name=name)
    try:
        created = DestinationCreate.model_validate(body)
    except ValidationError as exc:
        assert [error["loc"] for error in exc.errors()] == [("name",)]
        return
    assert not _breaks_the_rule(created.name, line_breaks=False), repr(created.name)
    assert 1 <= len(created.name) <= 200
