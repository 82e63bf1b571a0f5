"""The ad platforms an interstitial can load, in one table: id format, allowed events, script and CSP hosts.

Pure data and regexes (no pydantic) so the page function can re-check token contents cheaply. Adding a
platform means one entry here plus its official snippet in `snippets.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

PlatformName = Literal["meta", "tiktok", "google_tag", "linkedin", "x"]
PLATFORM_NAMES: tuple[str, ...] = get_args(PlatformName)


@dataclass(frozen=True, slots=True)
class Platform:
    name: PlatformName
    label: str  # shown to visitors in the consent notice
    id_pattern: re.Pattern[str]
    id_format: str  # how the id looks, for error messages
    events: tuple[str, ...]  # standard events that need no parameters
    script_url: str  # the loader the official snippet inserts
    script_hosts: tuple[str, ...]  # CSP script-src
    beacon_hosts: tuple[str, ...]  # CSP connect-src and img-src: where the loaded script reports to
    frame_hosts: tuple[str, ...] = ()  # CSP frame-src

    def accepts_id(self, pixel_id: str) -> bool:
        return self.id_pattern.fullmatch(pixel_id) is not None


# ASCII-only classes throughout: `\d` would also accept non-ASCII digits.
PLATFORMS: MappingProxyType[str, Platform] = MappingProxyType(
    {
        "meta": Platform(
            name="meta",
            label="Meta Pixel",
            id_pattern=re.compile(r"[0-9]{15,16}"),
            id_format="15 or 16 digits",
            events=(
                "PageView",
                "ViewContent",
                "Lead",
                "Contact",
                "CompleteRegistration",
                "FindLocation",
                "Schedule",
                "Search",
                "SubmitApplication",
            ),
            script_url="https://connect.facebook.net/en_US/fbevents.js",
            script_hosts=("https://connect.facebook.net",),
            beacon_hosts=("https://www.facebook.com", "https://connect.facebook.net"),
        ),
        "tiktok": Platform(
            name="tiktok",
            label="TikTok Pixel",
            id_pattern=re.compile(r"[A-Z0-9]{20}"),
            id_format="a 20-character pixel code of upper-case letters and digits",
            # PageView is TikTok's `ttq.page()`; the others are `ttq.track(<event>)`.
            events=(
                "PageView",
                "ViewContent",
                "ClickButton",
                "Contact",
                "Lead",
                "SubmitForm",
                "CompleteRegistration",
                "Download",
                "FindLocation",
                "Schedule",
                "Search",
                "SubmitApplication",
            ),
            script_url="https://analytics.tiktok.com/i18n/pixel/events.js",
            script_hosts=("https://analytics.tiktok.com",),
            beacon_hosts=("https://analytics.tiktok.com",),
        ),
        "google_tag": Platform(
            name="google_tag",
            label="Google tag",
            id_pattern=re.compile(r"(?:G|GT)-[A-Z0-9]{4,15}|AW-[0-9]{6,15}"),
            id_format="a Google tag id: G-XXXXXXXXXX, GT-XXXXXXX or AW-123456789",
            events=("page_view", "generate_lead", "sign_up", "select_content"),
            script_url="https://www.googletagmanager.com/gtag/js",
            # Google's CSP guidance for GA4 and Google Ads conversions (country-specific google.<tld> hosts omitted).
            script_hosts=(
                "https://*.googletagmanager.com",
                "https://www.googleadservices.com",
                "https://googleads.g.doubleclick.net",
                "https://www.google.com",
            ),
            beacon_hosts=(
                "https://*.google-analytics.com",
                "https://*.analytics.google.com",
                "https://*.googletagmanager.com",
                "https://*.g.doubleclick.net",
                "https://www.google.com",
                "https://www.googleadservices.com",
            ),
            frame_hosts=("https://td.doubleclick.net", "https://www.googletagmanager.com"),
        ),
        "linkedin": Platform(
            name="linkedin",
            label="LinkedIn Insight Tag",
            id_pattern=re.compile(r"[0-9]{4,12}"),
            id_format="a partner id of 4 to 12 digits",
            events=("PageView",),  # the Insight Tag records the page view itself when it loads
            script_url="https://snap.licdn.com/li.lms-analytics/insight.min.js",
            script_hosts=("https://snap.licdn.com",),
            beacon_hosts=("https://*.ads.linkedin.com",),
        ),
        "x": Platform(
            name="x",
            label="X Pixel",
            id_pattern=re.compile(r"[a-z0-9]{5,10}"),
            id_format="a pixel id of 5 to 10 lower-case letters and digits",
            events=("PageView",),  # `twq('config', id)` records the page view
            script_url="https://static.ads-twitter.com/uwt.js",
            script_hosts=("https://static.ads-twitter.com",),
            beacon_hosts=("https://analytics.twitter.com", "https://t.co", "https://ads-twitter.com"),
        ),
    }
)
