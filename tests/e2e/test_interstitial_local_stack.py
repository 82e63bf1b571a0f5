"""The interstitial on the running local stack, in headless Chromium: a link resolved over HTTP opens the page
the stack serves (`GET /i/{token}`), consent loads the pixels from the stack's stand-ins, the visitor lands."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.builders import TIKTOK, settings_body
from tests.browser.page_server import InterstitialPageServer
from tests.e2e.conftest import E2E_DEV_KEY, RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (`make test` installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield launched
        launched.close()


def test_a_resolved_link_opens_on_the_local_stack_loads_pixels_after_consent_and_lands(
    local_stack: RunningStack, browser: Browser
) -> None:
    api = httpx.Client(base_url=local_stack.base_url, headers={"Authorization": f"Bearer {E2E_DEV_KEY}"}, timeout=10)
    pixel = {"platform": TIKTOK.platform, "pixel_id": TIKTOK.pixel_id, "events": list(TIKTOK.events)}
    action = {"name": "Pixels", "action_type": "interstitial_settings", "settings": settings_body(pixels=[pixel])}
    body = {"name": "Pixels", "type": "ad_pixel_interstitial", "actions": [action]}
    created = api.post("/api/integrations/destinations", json=body)
    assert created.status_code == 201, created.text
    time.sleep(1.2)  # past the local stack's config cache bound

    with InterstitialPageServer() as landing:
        destination_url = landing.landing_url("?campaign=spring")
        link = {"url_id": "u-1", "domain_id": "d-1", "country": "US", "destination_url": destination_url}
        resolved = api.post("/api/integrations/interstitial/resolve", json=link)
        assert resolved.status_code == 200, resolved.text
        page_url = resolved.json()["interstitial"]["page_url"]
        assert page_url.startswith(f"{local_stack.base_url}/i/")

        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(page_url)
            page.get_by_role("button", name="Accept").click()
            page.wait_for_url(destination_url, timeout=10_000)
        finally:
            context.close()

    hits = httpx.get(f"{local_stack.base_url}/_local/pixel-hits").json()["hits"]
    assert {(hit["platform"], hit["pixel_id"]) for hit in hits} >= {(TIKTOK.platform, TIKTOK.pixel_id)}
    api.delete(f"/api/integrations/destinations/{created.json()['destination']['id']}")
    api.close()
