"""Local stand-ins for the ad platforms' pixel hosts, so the interstitial page runs without the internet.

Point the page at them with `NIMRIZ_PIXEL_HOST_OVERRIDES=json.dumps(standins.host_overrides())` (honoured on
the local stage only). Each platform's script path is served under `/<platform>` (e.g. `/meta/en_US/fbevents.js`)
by a small fake of the real loader: it processes the queue the official base code leaves (`fbq.queue`,
`ttq._i[id]`, `dataLayer`, `_linkedin_data_partner_ids`, `twq.queue`) and reports each pixel event the way
the real scripts do, with an image beacon, to `/collect?platform=&id=&ev=`. `hits()` lists those events;
`paths()` lists every request, so a test can also see that nothing was fetched at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from nimriz_destinations.interstitial.platforms import PLATFORMS
from tests.sinks.server import Sink, SinkRequest, SinkResponse

COLLECT_PATH = "/collect"
_GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")

_SEND = """function send(id,ev){new Image().src=COLLECT+"?platform=PLATFORM&id="+encodeURIComponent(id)
+"&ev="+encodeURIComponent(ev);}"""

# What each fake does with the official snippet's queue; `send(id, event)` reports one pixel event.
_FAKES = {
    "meta": """var fbq=window.fbq,ids=[];
function call(a){a=Array.prototype.slice.call(a);if(a[0]==="init"){ids.push(a[1]);}
else if(a[0]==="track"){ids.forEach(function(id){send(id,a[1]);});}
else if(a[0]==="trackSingle"){send(a[1],a[2]);}}
fbq.queue.forEach(call);fbq.queue=[];fbq.callMethod=function(){call(arguments);};""",
    "tiktok": """var id=new URL(document.currentScript.src).searchParams.get("sdkid");
var queue=window[window.TiktokAnalyticsObject]._i[id];
function call(c){if(c[0]==="page"){send(id,"PageView");}else if(c[0]==="track"){send(id,c[1]);}}
queue.forEach(call);queue.length=0;queue.push=call;""",
    "google_tag": """var dataLayer=window.dataLayer;
function call(a){if(a[0]==="event"&&a[2]&&a[2].send_to){send(a[2].send_to,a[1]);}}
dataLayer.forEach(call);dataLayer.push=function(a){call(a);return Array.prototype.push.call(dataLayer,a);};""",
    "linkedin": """(window._linkedin_data_partner_ids||[]).forEach(function(id){send(id,"PageView");});""",
    "x": """var twq=window.twq;function call(a){if(a[0]==="config"){send(a[1],"PageView");}}
twq.queue.forEach(call);twq.queue=[];twq.exe=function(){call(arguments);};""",
}


@dataclass(frozen=True)
class PixelHit:
    platform: str
    pixel_id: str
    event: str


class PixelStandins:
    """`with PixelStandins() as standins:` serves every platform's stand-in on one loopback port."""

    def __init__(self) -> None:
        self.sink = Sink(self._answer)
        self._scripts = {f"/{name}{urlsplit(platform.script_url).path}": name for name, platform in PLATFORMS.items()}

    def __enter__(self) -> PixelStandins:
        self.sink.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sink.__exit__(*exc)

    def host_overrides(self) -> dict[str, str]:
        return {name: f"{self.sink.url}/{name}" for name in PLATFORMS}

    def hits(self) -> set[PixelHit]:
        return {
            PixelHit(request.query["platform"][0], request.query["id"][0], request.query["ev"][0])
            for request in list(self.sink.requests)
            if request.path == COLLECT_PATH
        }

    def wait_for_hits(self, expected: set[PixelHit], timeout: float = 10) -> set[PixelHit]:
        """Wait until every expected hit has arrived (beacons are asynchronous), at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not expected <= self.hits() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.hits()

    def paths(self) -> list[str]:
        return [request.path for request in list(self.sink.requests)]

    def clear(self) -> None:
        self.sink.requests.clear()

    def _answer(self, request: SinkRequest) -> SinkResponse:
        if request.path == COLLECT_PATH:
            return SinkResponse(200, _GIF, {"Content-Type": "image/gif", "Cache-Control": "no-store"})
        platform = self._scripts.get(request.path)
        if platform is None:
            return SinkResponse(404, "no stand-in here")
        headers = {"Content-Type": "text/javascript", "Cache-Control": "no-store"}
        return SinkResponse(200, self._script(platform), headers)

    def _script(self, platform: str) -> str:
        send = _SEND.replace("COLLECT", json.dumps(self.sink.url + COLLECT_PATH)).replace("PLATFORM", platform)
        return f"(function(){{{send}\n{_FAKES[platform]}\n}})();"
