"""The interstitial page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

The page is served by its Lambda handler (tests/browser/page_server.py) with the pixel hosts pointed at local
stand-ins (tests/browser/pixel_standins.py), so nothing leaves the machine. Timing is driven by Playwright's
fake clock, never by sleeping: the page's countdown only advances when a test moves the clock.
Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, sync_playwright

from nimriz_destinations.interstitial import runtime as interstitial_runtime
from nimriz_destinations.interstitial.plan import ConsentPrompt, PagePixel
from nimriz_destinations.interstitial.token import sign_token
from tests.browser.builders import ALL_PIXELS, CONSENT, SECRET, SECRET_TEXT, TIKTOK, page_claims, settings_body
from tests.browser.lambda_functions import invoke_function, proxy_event
from tests.browser.page_server import InterstitialPageServer
from tests.browser.pixel_standins import PixelHit, PixelStandins
from tests.conftest import ApiClient
from tests.local.seed import DEV_WORKSPACE, authorizer_context

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("interstitial_browser")]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # headless and a fresh --user-data-dir come from Playwright's launch()
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
WAIT_MS = 10_000
CLOCK_START, CLOCK_PAUSED = "2026-11-28T12:00:00Z", "2026-11-28T12:01:00Z"  # pausing must move the clock forward


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (`make test` installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def standins() -> Iterator[PixelStandins]:
    with PixelStandins() as running:
        yield running


@pytest.fixture(scope="module")
def pages() -> Iterator[InterstitialPageServer]:
    with InterstitialPageServer() as running:
        yield running


@pytest.fixture(autouse=True)
def local_stage(standins: PixelStandins, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The page function's environment on the local stack: stand-ins for every pixel host, a known token key."""
    monkeypatch.setenv("STAGE", "local")
    monkeypatch.setenv("NIMRIZ_PIXEL_HOST_OVERRIDES", json.dumps(standins.host_overrides()))
    monkeypatch.setenv("NIMRIZ_INTERSTITIAL_SECRET", SECRET_TEXT)
    interstitial_runtime.reset()
    standins.clear()
    yield
    interstitial_runtime.reset()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=DESKTOP)
    yield context
    context.close()


class WatchedPage:
    """A page plus what it reported: CSP violations and every request it made."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.csp_violations: list[str] = []
        self.requested: list[str] = []
        page.on("console", self._console)
        page.on("request", lambda request: self.requested.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)


def open_page(context: BrowserContext, url: str, *, paused: bool = False) -> WatchedPage:
    page = context.new_page()
    if paused:  # the page's timers only fire when the test moves the clock
        page.clock.install(time=CLOCK_START)
        page.clock.pause_at(CLOCK_PAUSED)
    watched = WatchedPage(page)
    page.goto(url)
    return watched


def token_for(
    pages: InterstitialPageServer,
    *,
    consent: ConsentPrompt | None = None,
    pixels: tuple[PagePixel, ...] = ALL_PIXELS,
    delay_ms: int = 800,
    expires_at: int | None = None,
) -> str:
    claims = page_claims(
        pages.landing_url("?campaign=spring"), consent=consent, pixels=pixels, delay_ms=delay_ms, expires_at=expires_at
    )
    return sign_token(claims, SECRET)


def expected_hits(pixels: tuple[PagePixel, ...]) -> set[PixelHit]:
    return {PixelHit(pixel.platform, pixel.pixel_id, event) for pixel in pixels for event in pixel.events}


def wait_for_landing(page: Page, pages: InterstitialPageServer) -> None:
    page.wait_for_url(pages.landing_url("?campaign=spring"), timeout=WAIT_MS)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_pixels_reach_the_local_standins_and_the_visitor_lands_on_the_destination(
    context: BrowserContext, pages: InterstitialPageServer, standins: PixelStandins
) -> None:
    watched = open_page(context, pages.page_url(token_for(pages)))

    wait_for_landing(watched.page, pages)
    assert standins.wait_for_hits(expected_hits(ALL_PIXELS)) == expected_hits(ALL_PIXELS)
    assert watched.csp_violations == []
    assert {path.split("/")[1] for path in standins.paths() if path != "/collect"} == {
        "meta",
        "tiktok",
        "google_tag",
        "linkedin",
        "x",
    }


def test_nothing_loads_before_consent_and_accepting_loads_the_pixels_then_continues(
    context: BrowserContext, pages: InterstitialPageServer, standins: PixelStandins
) -> None:
    watched = open_page(context, pages.page_url(token_for(pages, consent=CONSENT)))
    page = watched.page
    page.wait_for_load_state("networkidle")

    assert page.get_by_role("region", name="Before you continue").is_visible()
    assert page.evaluate("document.activeElement.id") == "title"
    assert standins.paths() == [] and page.locator("script[src]").count() == 0
    assert not [url for url in watched.requested if url.startswith(standins.sink.url)]

    page.get_by_role("button", name="Accept").click()

    wait_for_landing(page, pages)
    assert standins.wait_for_hits(expected_hits(ALL_PIXELS)) == expected_hits(ALL_PIXELS)
    assert watched.csp_violations == []


def test_declining_continues_at_once_without_loading_any_pixel(
    context: BrowserContext, pages: InterstitialPageServer, standins: PixelStandins
) -> None:
    watched = open_page(context, pages.page_url(token_for(pages, consent=CONSENT, delay_ms=5000)))

    watched.page.get_by_role("button", name="Decline").click()

    wait_for_landing(watched.page, pages)
    assert standins.paths() == []
    assert not [url for url in watched.requested if url.startswith(standins.sink.url)]


def test_the_redirect_happens_only_once_the_delay_has_passed(
    context: BrowserContext, pages: InterstitialPageServer, standins: PixelStandins
) -> None:
    visits_before = len(pages.landing_visits())
    watched = open_page(context, pages.page_url(token_for(pages, delay_ms=3000)), paused=True)
    page, status = watched.page, watched.page.get_by_role("status")
    assert standins.wait_for_hits(expected_hits(ALL_PIXELS)) == expected_hits(ALL_PIXELS)

    assert status.inner_text() == "Continuing to 127.0.0.1 in 3 seconds…"
    page.clock.run_for(2999)
    assert status.inner_text() == "Continuing to 127.0.0.1 in 1 second…"
    assert page.url.startswith(pages.url + "/i/") and len(pages.landing_visits()) == visits_before
    page.clock.run_for(1)

    wait_for_landing(page, pages)


def test_keyboard_alone_reaches_every_control_in_order_and_can_accept(
    context: BrowserContext, pages: InterstitialPageServer, standins: PixelStandins
) -> None:
    page = open_page(context, pages.page_url(token_for(pages, consent=CONSENT))).page
    focus_order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focus_order.append(page.evaluate("document.activeElement.id"))
    assert focus_order == ["accept", "decline", "continue"]

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")

    wait_for_landing(page, pages)
    assert standins.wait_for_hits(expected_hits(ALL_PIXELS)) == expected_hits(ALL_PIXELS)


@pytest.mark.parametrize("consent", [None, CONSENT], ids=["no-consent", "consent"])
def test_without_javascript_the_page_continues_and_loads_nothing(
    browser: Browser, pages: InterstitialPageServer, standins: PixelStandins, consent: ConsentPrompt | None
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        response = page.goto(pages.page_url(token_for(pages, consent=consent, delay_ms=5000)))
        assert response is not None and response.status == 200

        wait_for_landing(page, pages)
        assert standins.paths() == []
    finally:
        context.close()


@pytest.mark.parametrize(
    ("kind", "status", "title"),
    [("tampered", 400, "This link is not valid"), ("expired", 410, "This link has expired")],
)
def test_a_tampered_or_expired_token_shows_an_error_and_cannot_redirect(
    context: BrowserContext, pages: InterstitialPageServer, standins: PixelStandins, kind: str, status: int, title: str
) -> None:
    token = token_for(pages, expires_at=1) if kind == "expired" else tamper(token_for(pages))
    page = context.new_page()
    visits_before = len(pages.landing_visits())

    response = page.goto(pages.page_url(token))
    page.wait_for_load_state("networkidle")

    assert response is not None and response.status == status
    assert page.get_by_role("heading", level=1).inner_text() == title
    assert page.locator("a, script, meta[http-equiv], form").count() == 0
    assert page.url == pages.page_url(token)
    assert len(pages.landing_visits()) == visits_before and standins.paths() == []


def tamper(token: str) -> str:
    """Point the token at another destination, keeping the signature (what an open-redirect attempt looks like)."""
    version, payload, signature = token.split(".")
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["to"] = "https://evil.example/phish"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{version}.{forged}.{signature}"


@pytest.mark.parametrize(("viewport", "name"), [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_screenshots_of_the_consent_and_countdown_pages_fit_the_screen(
    browser: Browser, pages: InterstitialPageServer, viewport: ViewportSize, name: str
) -> None:
    for kind, consent in (("consent", CONSENT), ("countdown", None)):
        context = browser.new_context(viewport=viewport)  # a context per page: the fake clock is per context
        try:
            token = token_for(pages, consent=consent, delay_ms=3000)
            page = open_page(context, pages.page_url(token), paused=True).page
            if consent:
                page.keyboard.press("Tab")  # show the focus ring on the first choice
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert page.get_by_role("link", name="Continue to 127.0.0.1").is_visible()
            screenshot(page, f"interstitial-{kind}-{name}")
        finally:
            context.close()


def test_a_link_resolved_through_the_api_opens_and_continues_in_the_browser(
    api: ApiClient,
    context: BrowserContext,
    pages: InterstitialPageServer,
    standins: PixelStandins,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTERSTITIAL_PAGE_BASE_URL", pages.url)
    interstitial_runtime.reset()
    pixel = {"platform": TIKTOK.platform, "pixel_id": TIKTOK.pixel_id, "events": list(TIKTOK.events)}
    action = {"name": "Pixels", "action_type": "interstitial_settings", "settings": settings_body(pixels=[pixel])}
    created = api.post(
        "/api/integrations/destinations", {"name": "Pixels", "type": "ad_pixel_interstitial", "actions": [action]}
    )
    assert created.status == 201, created.text

    link = {"url_id": "u-1", "domain_id": "d-1", "destination_url": pages.landing_url("?campaign=spring")}
    resolve = proxy_event(
        "POST",
        "/api/integrations/interstitial/resolve",
        resource="/api/integrations/interstitial/resolve",
        body=link,
        authorizer=authorizer_context(DEV_WORKSPACE),
    )
    interstitial = invoke_function("resolve_interstitial", resolve).json()["interstitial"]

    page = open_page(context, interstitial["page_url"]).page
    page.get_by_role("button", name="Accept").click()

    wait_for_landing(page, pages)
    assert standins.wait_for_hits(expected_hits((TIKTOK,))) == expected_hits((TIKTOK,))
