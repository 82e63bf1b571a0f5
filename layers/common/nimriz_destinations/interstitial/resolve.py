"""Which pixels a redirect loads: every enabled interstitial action whose filter matches the link, merged.

Answered from a bounded per-workspace cache (one destinations Query per workspace per cache period; a change
made through the API shows within that period). Filters and settings are compiled once per load. The link
context becomes a canonical-shaped `link.clicked` / `link.qr_scanned` event so the actions' ordinary
`event_filter`s (domain, tag, space, country, touch type, conditions on those fields) decide; conditions on
fields a redirect does not know (UTM, device, ...) see them as missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..cache import TTLCache
from ..filters import CompiledFilter, EventFilter, compile_filter
from ..observability import logger
from ..storage.destinations import DestinationStore
from ..storage.records import DestinationRecord, Workspace
from .models import ResolveRequest
from .plan import MAX_PAGE_PIXELS, ConsentPrompt, InterstitialPlan, PagePixel
from .platforms import PlatformName
from .settings import ConsentSettings, InterstitialSettings
from .token import PageClaims, sign_token
from .urls import destination_host

DESTINATION_TYPE = "ad_pixel_interstitial"
ACTION_TYPE = "interstitial_settings"
TOKEN_TTL_SECONDS = 300  # from the edge's redirect to the page opening; the page then runs on its own


@dataclass(frozen=True, slots=True)
class CompiledInterstitialAction:
    destination_id: str
    action_id: str
    filter: CompiledFilter
    settings: InterstitialSettings


@dataclass(frozen=True, slots=True)
class Resolution:
    plan: InterstitialPlan
    token: str
    expires_at: int  # Unix seconds


class InterstitialResolver:
    def __init__(
        self,
        store: DestinationStore,
        token_secret: Callable[[], bytes],
        *,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._token_secret = token_secret
        self._wall_clock = wall_clock
        self._actions: TTLCache[tuple[CompiledInterstitialAction, ...]] = TTLCache(
            max_entries=1000, ttl_seconds=cache_seconds, clock=clock
        )

    def resolve(self, workspace: Workspace, request: ResolveRequest) -> Resolution | None:
        event = link_event(workspace, request)
        matching = [
            action.settings for action in self._workspace_actions(workspace) if action.filter.evaluate(event).passed
        ]
        if not matching:
            return None
        plan = merge_settings(matching)
        expires_at = int(self._wall_clock()) + TOKEN_TTL_SECONDS
        claims = PageClaims(
            destination_url=request.destination_url,
            workspace_id=workspace.workspace_id,
            url_id=request.url_id,
            domain_id=request.domain_id,
            plan=plan,
            expires_at=expires_at,
        )
        return Resolution(plan=plan, token=sign_token(claims, self._token_secret()), expires_at=expires_at)

    def _workspace_actions(self, workspace: Workspace) -> tuple[CompiledInterstitialAction, ...]:
        workspace_id = workspace.workspace_id
        return self._actions.get_or_load(
            workspace_id, lambda: tuple(_compiled_actions(self._store.list_all(workspace_id)))
        )


def link_event(workspace: Workspace, request: ResolveRequest) -> dict[str, Any]:
    """A canonical-shaped event holding only what the edge knows about this redirect."""
    return {
        "type": "link.qr_scanned" if request.touch_type == "qr_scan" else "link.clicked",
        "touch_type": request.touch_type,
        "organization_id": workspace.organization_id,
        "workspace_id": workspace.workspace_id,
        "bot_flag": False,
        "link": {
            "url_id": request.url_id,
            "domain_id": request.domain_id,
            "space_id": request.space_id,
            "tag_ids": list(request.tag_ids),
            "destination_host": destination_host(request.destination_url),
        },
        "context": {"country": request.country},
    }


def _compiled_actions(records: list[DestinationRecord]) -> Iterator[CompiledInterstitialAction]:
    # Oldest destination first, actions in their saved order: merging (first consent notice wins) is stable.
    for record in sorted(records, key=lambda r: (r.created_at, r.id)):
        if not record.enabled or record.type != DESTINATION_TYPE:
            continue
        for action in record.actions:
            if not action.enabled or action.action_type != ACTION_TYPE:
                continue
            try:
                yield CompiledInterstitialAction(
                    destination_id=record.id,
                    action_id=action.id,
                    filter=compile_filter(EventFilter.model_validate(action.event_filter)),
                    settings=InterstitialSettings.model_validate(action.settings),
                )
            except ValidationError:
                # Saved before a rule tightened: skip it rather than fail every redirect of the workspace.
                logger.warning(
                    "interstitial action skipped: its stored settings or filter no longer validate",
                    extra={"destination_id": record.id, "action_id": action.id},
                )


def merge_settings(matching: Sequence[InterstitialSettings]) -> InterstitialPlan:
    """One pixel per (platform, id) with the union of its events; the longest delay; consent if any requires it.

    The consent notice and labels are those of the first action requiring consent; the page also lists every
    platform it loads, so a visitor sees all of them whichever notice is shown.
    """
    events: dict[tuple[PlatformName, str], list[str]] = {}
    for settings in matching:
        for pixel in settings.pixels:
            known = events.setdefault((pixel.platform, pixel.pixel_id), [])
            known.extend(event for event in pixel.events if event not in known)
    if len(events) > MAX_PAGE_PIXELS:
        logger.warning("interstitial pixels over the page limit were dropped", extra={"pixels": len(events)})
    pixels = tuple(PagePixel(platform, pixel_id, tuple(names)) for (platform, pixel_id), names in events.items())
    consent = next((_prompt(s.consent) for s in matching if s.consent.required), None)
    return InterstitialPlan(
        pixels=pixels[:MAX_PAGE_PIXELS], delay_ms=max(s.delay_ms for s in matching), consent=consent
    )


def _prompt(consent: ConsentSettings) -> ConsentPrompt:
    assert consent.notice is not None  # the schema requires a notice whenever consent is required
    return ConsentPrompt(notice=consent.notice, accept_label=consent.accept_label, decline_label=consent.decline_label)
