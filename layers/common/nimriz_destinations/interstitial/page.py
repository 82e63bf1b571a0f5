"""The interstitial page (and its error page): HTML, Content-Security-Policy and response headers.

* No pixel script is in the HTML: the one inline script injects them, after the visitor accepts when consent is
  required, otherwise on open. Ids and events reach it only as JSON (`<`, `>`, `&` escaped) in a data block.
* Without JavaScript nothing can load (pixels are script-only), so a `<noscript>` meta refresh continues at once
  and a plain continue link is always there; the consent buttons and countdown are hidden then.
* CSP: a fresh nonce per response on every script and style element; script, connect, img and frame sources
  are only the hosts of the platforms this page loads (or their local stand-ins); nothing else.
* Only a verified, unexpired token yields a destination: anything else gets an error page with no link.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from .plan import PagePixel
from .platforms import PLATFORM_NAMES, PLATFORMS, Platform
from .snippets import page_script
from .token import ExpiredToken, InvalidToken, PageClaims, verify_token
from .urls import destination_host

_BASE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token (destination, link ids) never leaves in a Referer header
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_STYLE = (
    ":root{color-scheme:light;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.5}"
    "body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1rem;"
    "box-sizing:border-box;background:#f3f4f6;color:#111827}"
    "main{width:100%;max-width:32rem;background:#fff;border-radius:12px;padding:1.5rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.15)}"
    "h1{font-size:1.375rem;line-height:1.3;margin:0 0 .75rem}"
    "p{margin:0 0 .75rem}.notice{white-space:pre-line}.small{font-size:.9375rem;color:#374151}"
    "#choices{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}"
    "button{flex:1 1 9rem;min-height:44px;font:inherit;font-weight:600;border-radius:8px;padding:.5rem 1rem;"
    "cursor:pointer;border:2px solid #1d4ed8;background:#1d4ed8;color:#fff}"
    "a{color:#1d4ed8}.continue{display:inline-block;padding:.5rem 0;font-weight:600}"
    "#status{min-height:1.5em;font-weight:600}"
    ":focus-visible{outline:3px solid #b45309;outline-offset:3px}[hidden]{display:none!important}"
)


@dataclass(frozen=True, slots=True)
class HtmlPage:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class PlatformSources:
    """Where one platform's script comes from and which origins the page lets it use."""

    script_url: str
    script_hosts: tuple[str, ...]
    beacon_hosts: tuple[str, ...]
    frame_hosts: tuple[str, ...]


def platform_sources(platform: Platform, override: str | None) -> PlatformSources:
    """The official hosts, or (local stack) the stand-in base URL in place of every host of the platform."""
    if override is None:
        return PlatformSources(platform.script_url, platform.script_hosts, platform.beacon_hosts, platform.frame_hosts)
    parts = urlsplit(override)
    origin = (f"{parts.scheme}://{parts.netloc}",)
    return PlatformSources(override + urlsplit(platform.script_url).path, origin, origin, ())


def page_for_token(token: str, secret: bytes, overrides: Mapping[str, str], *, now: float) -> HtmlPage:
    try:
        claims = verify_token(token, secret, now=now)
    except ExpiredToken:
        return error_page(410, "This link has expired", "Open the original link again to continue.")
    except InvalidToken:
        return error_page(
            400, "This link is not valid", "The address is incomplete or was changed. Open the original link again."
        )
    return interstitial_page(claims, overrides)


def interstitial_page(claims: PageClaims, overrides: Mapping[str, str], nonce: str | None = None) -> HtmlPage:
    nonce = nonce or _nonce()
    groups = _by_platform(claims.plan.pixels)
    sources = {name: platform_sources(PLATFORMS[name], overrides.get(name)) for name in groups}
    host = destination_host(claims.destination_url)
    config = {
        "destination": claims.destination_url,
        "host": host,
        "delay_ms": claims.plan.delay_ms,
        "platforms": [
            {"name": name, "src": _script_src(name, sources[name], pixels), "pixels": [_pixel_json(p) for p in pixels]}
            for name, pixels in groups.items()
        ],
    }
    labels = ", ".join(PLATFORMS[name].label for name in groups)
    body = _document(
        title=f"Continuing to {host}",
        nonce=nonce,
        head_extra=(
            f'<noscript><meta http-equiv="refresh" content="0; url={_attr(claims.destination_url)}">'
            f'<style nonce="{nonce}">.needs-js{{display:none}}</style></noscript>'
        ),
        main=_consent_section(claims, host, labels) + _continue_section(claims.destination_url, host),
        scripts=(
            f'<script type="application/json" id="nimriz-interstitial" nonce="{nonce}">{_script_json(config)}</script>'
            f'<script nonce="{nonce}">{page_script(groups)}</script>'
        ),
    )
    return HtmlPage(200, body, {**_BASE_HEADERS, "Content-Security-Policy": page_csp(nonce, sources.values())})


def error_page(status: int, title: str, message: str, nonce: str | None = None) -> HtmlPage:
    nonce = nonce or _nonce()
    body = _document(
        title=title, nonce=nonce, head_extra="", main=f"<h1>{_text(title)}</h1><p>{_text(message)}</p>", scripts=""
    )
    csp = f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    return HtmlPage(status, body, {**_BASE_HEADERS, "Content-Security-Policy": csp})


def page_csp(nonce: str, sources: Iterable[PlatformSources]) -> str:
    sources = list(sources)
    scripts = _origins(s.script_hosts for s in sources)
    beacons = _origins(s.beacon_hosts for s in sources) or "'none'"
    frames = _origins(s.frame_hosts for s in sources)
    directives = [
        "default-src 'none'",
        f"script-src 'nonce-{nonce}' {scripts}".rstrip(),
        f"connect-src {beacons}",
        f"img-src {beacons}",
        f"style-src 'nonce-{nonce}'",
        *([f"frame-src {frames}"] if frames else []),
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def _origins(groups: Iterable[tuple[str, ...]]) -> str:
    return " ".join(dict.fromkeys(origin for group in groups for origin in group))


def _by_platform(pixels: Iterable[PagePixel]) -> dict[str, list[PagePixel]]:
    groups: dict[str, list[PagePixel]] = {}
    for pixel in pixels:
        groups.setdefault(pixel.platform, []).append(pixel)
    return {name: groups[name] for name in PLATFORM_NAMES if name in groups}  # stable, platform-table order


def _script_src(name: str, sources: PlatformSources, pixels: list[PagePixel]) -> str:
    # gtag.js is loaded once, for the first tag; the other tags are added with gtag('config').
    return sources.script_url + (f"?{urlencode({'id': pixels[0].pixel_id})}" if name == "google_tag" else "")


def _pixel_json(pixel: PagePixel) -> dict[str, Any]:
    return {"id": pixel.pixel_id, "events": list(pixel.events)}


def _consent_section(claims: PageClaims, host: str, labels: str) -> str:
    consent = claims.plan.consent
    if consent is None:
        return (
            f'<h1 id="title" tabindex="-1">Taking you to {_text(host)}</h1>'
            f'<p class="small">This page loads: {_text(labels)}.</p>'
        )
    return (
        '<section id="consent" aria-labelledby="title">'
        '<h1 id="title" tabindex="-1">Before you continue</h1>'
        f'<p class="notice">{_text(consent.notice)}</p>'
        f'<p class="small">If you accept, this page loads: {_text(labels)}. '
        f"If you decline, nothing is loaded and you continue to {_text(host)}.</p>"
        '<div id="choices" class="needs-js">'
        f'<button type="button" id="accept">{_text(consent.accept_label)}</button>'
        f'<button type="button" id="decline">{_text(consent.decline_label)}</button>'
        "</div></section>"
    )


def _continue_section(destination_url: str, host: str) -> str:
    return (
        '<p id="status" class="needs-js" role="status" aria-live="polite" aria-atomic="true"></p>'
        f'<p><a id="continue" class="continue" href="{_attr(destination_url)}">Continue to {_text(host)}</a></p>'
    )


def _document(*, title: str, nonce: str, head_extra: str, main: str, scripts: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{_text(title)}</title>{head_extra}"
        f'<style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body><main>{main}</main>{scripts}</body></html>"
    )


def _nonce() -> str:
    return secrets.token_urlsafe(18)


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _script_json(value: Any) -> str:
    # Inside <script> only `</script` or `<!--` could end the data block early; escaping <, > and & rules both out.
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
