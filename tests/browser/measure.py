"""`python -m tests.browser.measure`: the interstitial page's weight and its open-to-redirect time, locally.

Serves the page through its handler with every pixel host on the local stand-ins (as the browser tests do) and
opens it in headless Chromium. Weight is the HTML the function returns (the only thing it serves; pixel scripts
come from the platforms). Open-to-redirect is from `page.goto` to the destination's URL, median of five runs.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import time

from playwright.sync_api import Browser, sync_playwright

from nimriz_destinations.interstitial import runtime as interstitial_runtime
from nimriz_destinations.interstitial.plan import PagePixel
from nimriz_destinations.interstitial.token import sign_token
from tests.browser.builders import ALL_PIXELS, CONSENT, META, SECRET, SECRET_TEXT, page_claims
from tests.browser.lambda_functions import invoke_function, proxy_event
from tests.browser.page_server import InterstitialPageServer
from tests.browser.pixel_standins import PixelStandins

RUNS = 5
CASES = [("1 pixel, no consent", (META,), None), ("5 platforms, consent", ALL_PIXELS, CONSENT)]


def page_weight(token: str) -> tuple[int, int]:
    event = proxy_event("GET", f"/i/{token}", resource="/i/{token}", path_parameters={"token": token})
    body = invoke_function("interstitial_page", event).body.encode()
    return len(body), len(gzip.compress(body))


def open_to_redirect_ms(
    browser: Browser, pages: InterstitialPageServer, pixels: tuple[PagePixel, ...], delay_ms: int
) -> float:
    timings = []
    for _ in range(RUNS):
        token = sign_token(page_claims(pages.landing_url(), pixels=pixels, delay_ms=delay_ms), SECRET)
        context = browser.new_context()
        page = context.new_page()
        started = time.perf_counter()
        page.goto(pages.page_url(token), wait_until="commit")
        page.wait_for_url(pages.landing_url(), timeout=15_000)
        timings.append((time.perf_counter() - started) * 1000)
        context.close()
    return statistics.median(timings)


def main() -> None:
    with PixelStandins() as standins, InterstitialPageServer() as pages, sync_playwright() as playwright:
        os.environ.update(
            {
                "STAGE": "local",
                "NIMRIZ_INTERSTITIAL_SECRET": SECRET_TEXT,
                "NIMRIZ_PIXEL_HOST_OVERRIDES": json.dumps(standins.host_overrides()),
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        interstitial_runtime.reset()
        for name, pixels, consent in CASES:
            raw, compressed = page_weight(sign_token(page_claims(pixels=pixels, consent=consent), SECRET))
            print(f"page weight, {name}: {raw} bytes ({compressed} gzipped)")
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for delay_ms in (0, 1000):
            median = open_to_redirect_ms(browser, pages, ALL_PIXELS, delay_ms)
            print(f"open to redirect, 5 platforms, delay_ms={delay_ms}: {median:.0f} ms (median of {RUNS})")
        browser.close()


if __name__ == "__main__":
    main()
