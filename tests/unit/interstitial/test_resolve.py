"""Resolution: which enabled interstitial actions match a redirect, how they merge, and how often storage is read."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from nimriz_destinations.interstitial.models import ResolveRequest
from nimriz_destinations.interstitial.plan import MAX_PAGE_PIXELS, ConsentPrompt, PagePixel
from nimriz_destinations.interstitial.resolve import TOKEN_TTL_SECONDS, InterstitialResolver, Resolution
from nimriz_destinations.interstitial.token import verify_token
from nimriz_destinations.storage.records import ActionRecord, DestinationRecord, Workspace
from tests.browser.builders import SECRET, settings_body

WORKSPACE = Workspace(workspace_id="ws_dev", organization_id="org_dev")
DOMAIN, OTHER_DOMAIN = "7e2f4c1a-9b3d-4e8f-a6c5-1d0b2e3f4a5b", "11111111-2222-4333-8444-555555555555"
SPACE, TAG = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c"
WALL_NOW = 1_800_000_000.0
_ids = itertools.count(1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    def __init__(self, *records: DestinationRecord) -> None:
        self.records = list(records)
        self.queries = 0

    def list_all(self, workspace_id: str) -> list[DestinationRecord]:
        self.queries += 1
        return [record for record in self.records if record.workspace_id == workspace_id]


def action(
    settings: dict[str, Any] | None = None,
    event_filter: dict[str, Any] | None = None,
    *,
    enabled: bool = True,
    action_type: str = "interstitial_settings",
) -> ActionRecord:
    return ActionRecord(
        id=f"action-{next(_ids)}",
        name="interstitial",
        action_type=action_type,
        enabled=enabled,
        property_mapping={"base": "default", "overrides": []},
        event_filter=event_filter or {},
        settings=settings_body() if settings is None else settings,
        created_at="2026-11-01T00:00:00.000Z",
        updated_at="2026-11-01T00:00:00.000Z",
    )


def destination(
    *actions: ActionRecord,
    enabled: bool = True,
    type_: str = "ad_pixel_interstitial",
    workspace_id: str = "ws_dev",
    created_at: str = "2026-11-01T00:00:00.000Z",
) -> DestinationRecord:
    return DestinationRecord(
        id=f"destination-{next(_ids)}",
        workspace_id=workspace_id,
        organization_id="org_dev",
        name="pixels",
        type=type_,
        enabled=enabled,
        actions=list(actions),
        credential_hints={},
        secret_arn=None,
        secret_version=None,
        version=1,
        created_at=created_at,
        updated_at=created_at,
    )


def pixel(platform: str, pixel_id: str, *events: str) -> dict[str, Any]:
    return {"platform": platform, "pixel_id": pixel_id, "events": list(events)}


def request(**overrides: Any) -> ResolveRequest:
    body = {
        "url_id": "0b9a3c3e-5d1f-4a7e-9a57-3f0c8f1d2b64",
        "domain_id": DOMAIN,
        "space_id": SPACE,
        "tag_ids": [TAG],
        "country": "DE",
        "destination_url": "https://shop.example.com/spring",
    }
    return ResolveRequest.model_validate(body | overrides)


def resolver(store: FakeStore, clock: FakeClock | None = None) -> InterstitialResolver:
    return InterstitialResolver(
        store,  # type: ignore[arg-type]
        lambda: SECRET,
        cache_seconds=30,
        clock=clock or FakeClock(),
        wall_clock=lambda: WALL_NOW,
    )


def resolve(store: FakeStore, **overrides: Any) -> Resolution | None:
    return resolver(store).resolve(WORKSPACE, request(**overrides))


class TestMatching:
    def test_no_interstitial_destinations_resolve_to_none(self) -> None:
        assert resolve(FakeStore()) is None

    @pytest.mark.parametrize(
        ("event_filter", "context", "applies"),
        [
            ({"include": {"domain_ids": [DOMAIN]}}, {}, True),
            ({"include": {"domain_ids": [DOMAIN]}}, {"domain_id": OTHER_DOMAIN}, False),
            ({"include": {"tag_ids": [TAG, "other"]}}, {}, True),
            ({"include": {"tag_ids": [TAG]}}, {"tag_ids": []}, False),
            ({"exclude": {"tag_ids": [TAG]}}, {}, False),
            ({"include": {"space_ids": [SPACE]}}, {}, True),
            ({"include": {"space_ids": [SPACE]}}, {"space_id": None}, False),
            ({"include": {"countries": ["DE", "AT"]}}, {}, True),
            ({"include": {"countries": ["DE"]}}, {"country": None}, False),
            ({"exclude": {"countries": ["US"]}}, {"country": "US"}, False),
            ({"include": {"touch_types": ["qr_scan"]}}, {"touch_type": "qr_scan"}, True),
            ({"include": {"touch_types": ["qr_scan"]}}, {}, False),
            ({"include": {"event_types": ["link.clicked"]}}, {}, True),
            (
                {"conditions": [{"field": "link.destination_host", "operator": "eq", "value": "shop.example.com"}]},
                {},
                True,
            ),
            ({"conditions": [{"field": "utm.source", "operator": "exists"}]}, {}, False),
            ({"exclude": {"bot_traffic": True}}, {}, True),
        ],
    )
    def test_the_actions_event_filter_decides_on_the_link_context(
        self, event_filter: dict[str, Any], context: dict[str, Any], applies: bool
    ) -> None:
        store = FakeStore(destination(action(event_filter=event_filter)))
        assert (resolve(store, **context) is not None) is applies

    @pytest.mark.parametrize(
        "record",
        [
            destination(action(), enabled=False),
            destination(action(enabled=False)),
            destination(action(), type_="segment"),
            destination(action(action_type="send_event")),
            destination(action(), workspace_id="ws_other"),
        ],
        ids=["destination-disabled", "action-disabled", "other-type", "other-action-type", "other-workspace"],
    )
    def test_only_enabled_interstitial_actions_of_the_callers_workspace_apply(self, record: DestinationRecord) -> None:
        assert resolve(FakeStore(record)) is None

    def test_an_action_whose_stored_settings_no_longer_validate_is_skipped_not_fatal(self) -> None:
        broken = action(settings={"pixels": "not a list"})
        working = action(settings_body(pixels=[pixel("x", "nyl43", "PageView")]))
        resolution = resolve(FakeStore(destination(broken, working)))
        assert resolution is not None
        assert resolution.plan.pixels == (PagePixel("x", "nyl43", ("PageView",)),)


class TestMerging:
    def test_pixels_merge_by_platform_and_id_with_the_union_of_their_events(self) -> None:
        first = action(
            settings_body(pixels=[pixel("meta", "123456789012345", "PageView"), pixel("x", "nyl43", "PageView")])
        )
        second = action(
            settings_body(
                pixels=[
                    pixel("meta", "123456789012345", "ViewContent", "PageView"),
                    pixel("linkedin", "598178", "PageView"),
                ]
            )
        )
        resolution = resolve(FakeStore(destination(first), destination(second, created_at="2026-11-02T00:00:00.000Z")))
        assert resolution is not None
        assert resolution.plan.pixels == (
            PagePixel("meta", "123456789012345", ("PageView", "ViewContent")),
            PagePixel("x", "nyl43", ("PageView",)),
            PagePixel("linkedin", "598178", ("PageView",)),
        )

    def test_the_longest_delay_wins(self) -> None:
        store = FakeStore(destination(action(settings_body(delay_ms=300)), action(settings_body(delay_ms=2500))))
        resolution = resolve(store)
        assert resolution is not None and resolution.plan.delay_ms == 2500

    def test_consent_is_required_when_any_matching_action_requires_it_with_the_oldest_notice(self) -> None:
        no_consent = action(settings_body(consent={"required": False}))
        newer = action(settings_body(consent={"required": True, "notice": "Newer notice.", "accept_label": "OK"}))
        older = action(settings_body(consent={"required": True, "notice": "Older notice."}))
        store = FakeStore(
            destination(newer, created_at="2026-11-03T00:00:00.000Z"),
            destination(no_consent, older, created_at="2026-11-02T00:00:00.000Z"),
        )
        resolution = resolve(store)
        assert resolution is not None
        assert resolution.plan.consent == ConsentPrompt("Older notice.", "Accept", "Decline")

    def test_no_consent_step_when_no_matching_action_requires_it(self) -> None:
        resolution = resolve(FakeStore(destination(action(settings_body(consent={"required": False})))))
        assert resolution is not None and resolution.plan.consent is None

    def test_a_non_matching_action_contributes_nothing(self) -> None:
        matching = action(settings_body(delay_ms=100))
        other = action(
            settings_body(delay_ms=5000, pixels=[pixel("x", "nyl43", "PageView")]),
            event_filter={"include": {"countries": ["US"]}},
        )
        resolution = resolve(FakeStore(destination(matching, other)))
        assert resolution is not None
        assert resolution.plan.delay_ms == 100
        assert [p.platform for p in resolution.plan.pixels] == ["meta"]

    def test_the_page_carries_at_most_twenty_pixels(self) -> None:
        actions = [
            action(settings_body(pixels=[pixel("linkedin", str(100000 + 10 * a + n), "PageView") for n in range(10)]))
            for a in range(3)
        ]
        resolution = resolve(FakeStore(destination(*actions)))
        assert resolution is not None and len(resolution.plan.pixels) == MAX_PAGE_PIXELS


class TestTokenAndCache:
    def test_the_issued_token_vouches_for_this_redirect_for_five_minutes(self) -> None:
        resolution = resolve(FakeStore(destination(action())))
        assert resolution is not None
        assert resolution.expires_at == int(WALL_NOW) + TOKEN_TTL_SECONDS
        claims = verify_token(resolution.token, SECRET, now=WALL_NOW)
        assert claims.destination_url == "https://shop.example.com/spring"
        assert (claims.workspace_id, claims.domain_id) == ("ws_dev", DOMAIN)
        assert claims.plan == resolution.plan

    def test_many_redirects_cost_one_storage_query_per_cache_period(self) -> None:
        clock, store = FakeClock(), FakeStore(destination(action()))
        subject = resolver(store, clock)
        for _ in range(500):
            subject.resolve(WORKSPACE, request())
            clock.now += 0.05
        assert store.queries == 1

    def test_a_configuration_change_applies_after_the_cache_period(self) -> None:
        clock, store = FakeClock(), FakeStore()
        subject = resolver(store, clock)
        assert subject.resolve(WORKSPACE, request()) is None
        store.records.append(destination(action()))
        clock.now += 29
        assert subject.resolve(WORKSPACE, request()) is None
        clock.now += 2
        assert subject.resolve(WORKSPACE, request()) is not None
