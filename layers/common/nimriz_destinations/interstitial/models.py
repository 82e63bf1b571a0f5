"""Request and response of `POST /api/integrations/interstitial/resolve` (they drive validation and OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .plan import InterstitialPlan
from .platforms import PlatformName
from .urls import MAX_DESTINATION_CHARS, check_destination_url

# Ids travel into the signed token and the filter engine: safe characters only.
LinkId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
DestinationUrl = Annotated[
    str, Field(max_length=MAX_DESTINATION_CHARS, examples=["https://shop.example.com/spring"]),
    AfterValidator(check_destination_url),
]  # fmt: skip


class ResolveRequest(BaseModel):
    """What the redirect edge knows about one redirect."""

    model_config = ConfigDict(extra="forbid")

    url_id: LinkId
    domain_id: LinkId
    space_id: LinkId | None = None
    tag_ids: Annotated[list[LinkId], Field(max_length=100)] = Field(default_factory=list)
    country: Country | None = Field(default=None, description="ISO-3166 alpha-2, upper case; omit when unknown.")
    touch_type: Literal["short_link_click", "qr_scan"] = "short_link_click"
    destination_url: DestinationUrl = Field(description="Where the visitor continues: http(s) only.")


class ResolvedPixel(BaseModel):
    platform: PlatformName
    pixel_id: str
    events: list[str]


class ResolvedConsent(BaseModel):
    required: bool
    notice: str | None = None
    accept_label: str | None = None
    decline_label: str | None = None
    on_decline: Literal["continue_without_pixels"] = "continue_without_pixels"


class ResolvedInterstitial(BaseModel):
    pixels: list[ResolvedPixel] = Field(description="Merged across matching actions: one entry per platform and id.")
    delay_ms: int
    consent: ResolvedConsent
    token: str = Field(description="Signed page token for this redirect; expires at expires_at.")
    page_url: str = Field(description="Send the visitor here instead of the destination.")
    expires_at: str


class ResolveResponse(BaseModel):
    interstitial: ResolvedInterstitial | None = Field(description="null: no interstitial; redirect directly.")


def present_interstitial(plan: InterstitialPlan, token: str, page_url: str, expires_at: str) -> ResolvedInterstitial:
    consent = plan.consent
    return ResolvedInterstitial(
        pixels=[
            ResolvedPixel(platform=pixel.platform, pixel_id=pixel.pixel_id, events=list(pixel.events))
            for pixel in plan.pixels
        ],
        delay_ms=plan.delay_ms,
        consent=ResolvedConsent(
            required=consent is not None,
            notice=consent.notice if consent else None,
            accept_label=consent.accept_label if consent else None,
            decline_label=consent.decline_label if consent else None,
        ),
        token=token,
        page_url=page_url,
        expires_at=expires_at,
    )
