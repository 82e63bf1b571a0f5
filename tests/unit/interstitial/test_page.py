"""The page's HTML and headers: escaping, nonces, no pixel before consent, the no-JS path, CSP, error pages."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from typing import Any

import pytest

from nimriz_destinations.interstitial.page import HtmlPage, interstitial_page, page_for_token
from nimriz_destinations.interstitial.plan import ConsentPrompt, PagePixel
from nimriz_destinations.interstitial.platforms import PLATFORMS
from nimriz_destinations.interstitial.token import sign_token
from tests.browser.builders import ALL_PIXELS, CONSENT, GOOGLE, META, SECRET, TIKTOK, page_claims

EVIL_URL = "https://shop.example.com/?q=\"><script>alert(1)</script>&a='b'"


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_texts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_texts.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str | None]] | None:
        return next(((name, attrs) for name, attrs in self.tags if attrs.get("id") == element_id), None)


def render(
    consent: ConsentPrompt | None = None, url: str = "https://shop.example.com/spring", **kwargs: object
) -> HtmlPage:
    return interstitial_page(page_claims(url, consent=consent, **kwargs), {}, nonce="n0nce")  # type: ignore[arg-type]


def csp_directives(page: HtmlPage) -> dict[str, list[str]]:
    parts = (d.split() for d in page.headers["Content-Security-Policy"].split(";"))
    return {name: values for name, *values in parts}


def page_config(page: HtmlPage) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(section(page, r'<script type="application/json"[^>]*>(.*?)</script>'))
    return config


def section(page: HtmlPage, pattern: str, text: str | None = None) -> str:
    found = re.search(pattern, page.body if text is None else text, flags=re.S)
    assert found, pattern
    return found.group(1)


class TestScriptsAndConsent:
    @pytest.mark.parametrize("consent", [None, CONSENT])
    def test_every_script_and_style_element_carries_the_responses_nonce(self, consent: ConsentPrompt | None) -> None:
        elements = Elements(render(consent).body)
        tagged = elements.all("script") + elements.all("style")
        assert len(elements.all("script")) == 2 and tagged
        assert all(attrs.get("nonce") == "n0nce" for attrs in tagged)
        assert "'nonce-n0nce'" in csp_directives(render(consent))["script-src"]

    def test_each_response_gets_a_fresh_nonce(self) -> None:
        first, second = (interstitial_page(page_claims(), {}) for _ in range(2))
        csp = [page.headers["Content-Security-Policy"] for page in (first, second)]
        assert section(first, r"'nonce-([^']+)'", csp[0]) != section(second, r"'nonce-([^']+)'", csp[1])

    @pytest.mark.parametrize("consent", [None, CONSENT])
    def test_the_html_itself_loads_no_pixel_script_and_names_no_pixel_host(self, consent: ConsentPrompt | None) -> None:
        page = render(consent)
        assert all("src" not in attrs for attrs in Elements(page.body).all("script"))
        hosts = {host for platform in PLATFORMS.values() for host in platform.script_hosts}
        markup_outside_data = re.sub(r'<script type="application/json".*?</script>', "", page.body, flags=re.S)
        assert not [host for host in hosts if host.removeprefix("https://") in markup_outside_data]

    def test_with_consent_the_pixels_load_only_from_the_accept_handler(self) -> None:
        page = render(CONSENT)
        script = Elements(page.body).script_texts[-1]
        assert re.search(r"if\(accepted\)\{loadPixels\(\);\}", script)
        assert script.count("loadPixels();") == 2  # consent-free path (guarded by the consent check) and accept
        assert Elements(page.body).by_id("consent") is not None

    def test_consent_shows_the_notice_labels_and_every_platform_loaded(self) -> None:
        page = render(ConsentPrompt("Ads measure this.", "Yes, load them", "No thanks"))
        assert "Ads measure this." in page.body
        assert ">Yes, load them</button>" in page.body and ">No thanks</button>" in page.body
        assert "Meta Pixel, TikTok Pixel, Google tag, LinkedIn Insight Tag, X Pixel" in page.body

    def test_without_consent_there_is_no_consent_step(self) -> None:
        page = render(None)
        assert Elements(page.body).by_id("consent") is None and "<button" not in page.body

    def test_only_the_platforms_present_get_a_loader(self) -> None:
        script = Elements(render(pixels=(META,)).body).script_texts[-1]
        assert "fbq" in script and "ttq" not in script and "gtag" not in script and "twq" not in script

    def test_google_tag_is_loaded_once_for_its_first_id(self) -> None:
        second_tag = PagePixel("google_tag", "AW-123456789", ("page_view",))
        config = page_config(render(pixels=(GOOGLE, second_tag)))
        (google,) = config["platforms"]
        assert google["src"] == "https://www.googletagmanager.com/gtag/js?id=G-ABC1234567"
        assert [p["id"] for p in google["pixels"]] == ["G-ABC1234567", "AW-123456789"]


class TestEscaping:
    def test_a_hostile_destination_is_escaped_in_the_link_the_refresh_and_the_data(self) -> None:
        page = render(url=EVIL_URL)
        assert "<script>alert(1)" not in page.body
        elements = Elements(page.body)
        (link,) = elements.all("a")
        assert link["href"] == EVIL_URL
        (refresh,) = [m for m in elements.all("meta") if m.get("http-equiv") == "refresh"]
        assert refresh["content"] == f"0; url={EVIL_URL}"
        assert page_config(page)["destination"] == EVIL_URL

    def test_notice_and_labels_are_html_escaped(self) -> None:
        page = render(ConsentPrompt("</p><script>alert(1)</script>", "<b>Yes</b>", "No & never"))
        assert "<script>alert(1)" not in page.body and "<b>Yes</b>" not in page.body
        assert "&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.body
        assert "No &amp; never" in page.body

    def test_the_data_block_cannot_be_closed_early(self) -> None:
        page = render(url="https://shop.example.com/</script><!--")
        data = section(page, r'<script type="application/json"[^>]*>(.*?)</script>')
        assert "<" not in data and ">" not in data
        assert page_config(page)["destination"] == "https://shop.example.com/</script><!--"


class TestNoJavaScriptPath:
    @pytest.mark.parametrize("consent", [None, CONSENT])
    def test_a_meta_refresh_inside_noscript_continues_at_once(self, consent: ConsentPrompt | None) -> None:
        page = render(consent)
        noscript = section(page, r"<noscript>(.*?)</noscript>")
        assert '<meta http-equiv="refresh" content="0; url=https://shop.example.com/spring">' in noscript
        assert page.body.count('http-equiv="refresh"') == 1  # never outside <noscript>: JS decides the timing

    def test_a_continue_link_is_always_there_and_the_js_only_controls_hide_without_js(self) -> None:
        elements = Elements(render(CONSENT).body)
        assert elements.by_id("continue") == (
            "a",
            {"id": "continue", "class": "continue", "href": "https://shop.example.com/spring"},
        )
        assert "needs-js" in str(elements.by_id("choices")) and "needs-js" in str(elements.by_id("status"))
        assert ".needs-js{display:none}" in section(render(CONSENT), r"<noscript>(.*?)</noscript>")


class TestAccessibility:
    def test_language_viewport_live_region_and_labelled_consent(self) -> None:
        page = render(CONSENT)
        elements = Elements(page.body)
        assert elements.all("html") == [{"lang": "en"}]
        assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in elements.all("meta")
        assert elements.by_id("status") == (
            "p",
            {"id": "status", "class": "needs-js", "role": "status", "aria-live": "polite", "aria-atomic": "true"},
        )
        assert elements.by_id("consent") == ("section", {"id": "consent", "aria-labelledby": "title"})
        assert [b["type"] for b in elements.all("button")] == ["button", "button"]
        assert ":focus-visible{outline:3px solid" in page.body

    def test_focus_order_is_notice_then_accept_decline_and_continue(self) -> None:
        order = [
            attrs.get("id")
            for _, attrs in Elements(render(CONSENT).body).tags
            if attrs.get("id") in {"title", "accept", "decline", "continue"}
        ]
        assert order == ["title", "accept", "decline", "continue"]


class TestContentSecurityPolicy:
    def test_only_the_hosts_of_the_platforms_on_the_page_are_allowed(self) -> None:
        directives = csp_directives(render(pixels=(META, TIKTOK)))
        assert directives["default-src"] == ["'none'"]
        assert directives["script-src"] == [
            "'nonce-n0nce'",
            "https://connect.facebook.net",
            "https://analytics.tiktok.com",
        ]
        assert directives["connect-src"] == directives["img-src"]
        assert "https://www.facebook.com" in directives["img-src"]
        assert "frame-src" not in directives
        assert directives["base-uri"] == directives["form-action"] == directives["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in render(pixels=(META, TIKTOK)).headers["Content-Security-Policy"]

    def test_google_tag_adds_its_frame_host(self) -> None:
        assert csp_directives(render(pixels=(GOOGLE,)))["frame-src"] == [
            "https://td.doubleclick.net",
            "https://www.googletagmanager.com",
        ]

    def test_local_stand_ins_replace_every_host_of_their_platform(self) -> None:
        overrides = {"meta": "http://127.0.0.1:4010/meta", "tiktok": "http://127.0.0.1:4010/tiktok"}
        page = interstitial_page(page_claims(pixels=(META, TIKTOK)), overrides, nonce="n0nce")
        directives = csp_directives(page)
        assert directives["script-src"] == ["'nonce-n0nce'", "http://127.0.0.1:4010"]
        assert directives["img-src"] == directives["connect-src"] == ["http://127.0.0.1:4010"]
        sources = [p["src"] for p in page_config(page)["platforms"]]
        assert sources == [
            "http://127.0.0.1:4010/meta/en_US/fbevents.js",
            "http://127.0.0.1:4010/tiktok/i18n/pixel/events.js",
        ]

    def test_the_page_is_never_cached_framed_sniffed_or_referred(self) -> None:
        headers = render().headers
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


class TestTokens:
    def test_a_valid_token_renders_the_page(self) -> None:
        token = sign_token(page_claims(pixels=ALL_PIXELS), SECRET)
        page = page_for_token(token, SECRET, {}, now=time.time())
        assert (
            page.status == 200 and page_config(page)["destination"] == "https://shop.example.com/spring?utm_source=ig"
        )

    @pytest.mark.parametrize(
        ("token", "status", "title"),
        [
            (sign_token(page_claims(expires_at=int(time.time()) - 1), SECRET), 410, "This link has expired"),
            (sign_token(page_claims(), b"not-the-stage-secret-but-32-bytes-long"), 400, "This link is not valid"),
            ("v1.garbage.garbage", 400, "This link is not valid"),
        ],
    )
    def test_a_bad_token_gets_a_plain_error_page_that_leads_nowhere(self, token: str, status: int, title: str) -> None:
        page = page_for_token(token, SECRET, {}, now=time.time())
        assert page.status == status and f"<h1>{title}</h1>" in page.body
        elements = Elements(page.body)
        assert not elements.all("script") and not elements.all("a")
        assert not [m for m in elements.all("meta") if m.get("http-equiv")]
        assert "shop.example.com" not in page.body
        assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'nonce-")
