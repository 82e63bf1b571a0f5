"""A loopback server for browser tests: `GET /i/<token>` through the interstitial page function's handler (with
an API Gateway-shaped event) and a destination page at `/landing` that records every visit.

A page server of its own keeps the browser tests free of the local stack (template, authorizer, moto tables).
"""

from __future__ import annotations

from tests.browser.lambda_functions import invoke_function, proxy_event
from tests.sinks.server import Sink, SinkRequest, SinkResponse

LANDING_PATH = "/landing"
_LANDING_HTML = '<!doctype html><html lang="en"><title>Landing</title><h1>Landing page</h1></html>'


class InterstitialPageServer:
    def __init__(self) -> None:
        self.sink = Sink(self._answer)

    def __enter__(self) -> InterstitialPageServer:
        self.sink.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sink.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.sink.url

    def page_url(self, token: str) -> str:
        return f"{self.url}/i/{token}"

    def landing_url(self, query: str = "") -> str:
        return f"{self.url}{LANDING_PATH}{query}"

    def landing_visits(self) -> list[SinkRequest]:
        return [request for request in list(self.sink.requests) if request.path == LANDING_PATH]

    def _answer(self, request: SinkRequest) -> SinkResponse:
        if request.path.startswith("/i/") and request.method == "GET":
            token = request.path.removeprefix("/i/")
            event = proxy_event("GET", request.path, resource="/i/{token}", path_parameters={"token": token})
            response = invoke_function("interstitial_page", event)
            return SinkResponse(response.status, response.body, response.headers)
        if request.path == LANDING_PATH:
            return SinkResponse(200, _LANDING_HTML, {"Content-Type": "text/html; charset=utf-8"})
        return SinkResponse(404, "not found")
