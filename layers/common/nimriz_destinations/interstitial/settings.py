"""The `settings` object of an `interstitial_settings` action, validated at save time (422 with precise paths).

Nothing but a platform's id (checked against that platform's format) and allowlisted standard event names can
reach the page; free text (the consent notice and button labels) is plain text and is HTML-escaped on render.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import Problem
from ..text import MULTI_LINE_TEXT, SINGLE_LINE_TEXT
from ..validation import problems_from_errors
from .plan import MAX_DELAY_MS, MAX_LABEL_CHARS, MAX_NOTICE_CHARS, MAX_PIXELS_PER_ACTION
from .platforms import PLATFORMS, PlatformName


def _no_markup(value: str) -> str:
    if "<" in value or ">" in value:
        raise ValueError("must be plain text: no markup (< or >)")
    return value


# The text rule (line breaks only in the notice) plus no markup; surrounding whitespace is trimmed before the length
# check.
NoticeText = Annotated[
    str, StringConstraints(strip_whitespace=True, strict=True, min_length=1, max_length=MAX_NOTICE_CHARS),
    MULTI_LINE_TEXT, AfterValidator(_no_markup),
]  # fmt: skip
LabelText = Annotated[
    str, StringConstraints(strip_whitespace=True, strict=True, min_length=1, max_length=MAX_LABEL_CHARS),
    SINGLE_LINE_TEXT, AfterValidator(_no_markup),
]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PixelSetting(_Strict):
    platform: PlatformName
    pixel_id: str = Field(strict=True, max_length=40, description="The platform's pixel / tag / partner id.")
    events: list[str] = Field(
        min_length=1, max_length=20, description="Standard events of that platform, e.g. PageView."
    )

    @field_validator("pixel_id")
    @classmethod
    def _pixel_id_matches_platform(cls, pixel_id: str, info: ValidationInfo) -> str:
        platform = PLATFORMS.get(info.data.get("platform", ""))
        if platform is not None and not platform.accepts_id(pixel_id):
            raise ValueError(f"not a valid {platform.label} id: expected {platform.id_format}")
        return pixel_id

    @field_validator("events")
    @classmethod
    def _events_allowed_for_platform(cls, events: list[str], info: ValidationInfo) -> list[str]:
        platform = PLATFORMS.get(info.data.get("platform", ""))
        if platform is None:
            return events
        unknown = [event for event in events if event not in platform.events]
        if unknown:
            raise ValueError(
                f"not a supported {platform.label} event: {', '.join(map(repr, unknown))}; "
                f"use: {', '.join(platform.events)}"
            )
        if len(set(events)) != len(events):
            raise ValueError("each event may be listed once")
        return events


def _each_pixel_once(pixels: list[PixelSetting]) -> list[PixelSetting]:
    seen: dict[tuple[str, str], int] = {}
    for index, pixel in enumerate(pixels):
        first = seen.setdefault((pixel.platform, pixel.pixel_id), index)
        if first != index:
            raise PydanticCustomError(
                "duplicate_pixel",
                "pixels[{first}] and pixels[{index}] are the same pixel: list it once with all its events",
                {"first": first, "index": index},
            )
    return pixels


class ConsentSettings(_Strict):
    required: StrictBool = Field(description="Show the notice and load nothing until the visitor accepts.")
    notice: NoticeText | None = Field(
        default=None, validate_default=True, description="Plain text; required when consent is required."
    )
    accept_label: LabelText = "Accept"
    decline_label: LabelText = "Decline"
    on_decline: Literal["continue_without_pixels"] = Field(
        default="continue_without_pixels", description="The visitor continues to the destination; nothing loads."
    )

    @field_validator("notice")
    @classmethod
    def _notice_when_required(cls, notice: str | None, info: ValidationInfo) -> str | None:
        if notice is None and info.data.get("required") is True:
            raise ValueError("a notice is required when consent is required")
        return notice


class InterstitialSettings(_Strict):
    """`settings` of an interstitial_settings action; which links it applies to is the action's event_filter."""

    pixels: Annotated[
        list[PixelSetting], Field(min_length=1, max_length=MAX_PIXELS_PER_ACTION), AfterValidator(_each_pixel_once)
    ]
    delay_ms: int = Field(
        default=1000, ge=0, le=MAX_DELAY_MS, strict=True, description="How long the page waits after loading pixels."
    )
    consent: ConsentSettings


def settings_problems(settings: dict[str, Any] | None, path: str) -> list[Problem]:
    """Save-time check of an interstitial_settings action's `settings`: one Problem per bad field."""
    if settings is None:
        return [Problem(path, "field required: interstitial_settings actions need settings")]
    try:
        InterstitialSettings.model_validate(settings)
    except ValidationError as exc:
        return problems_from_errors(exc.errors(include_url=False), path)
    return []


def normalised_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Valid settings as stored: the fields the customer gave, with text in its trimmed NFC form."""
    return InterstitialSettings.model_validate(settings).model_dump(mode="json", exclude_unset=True)
