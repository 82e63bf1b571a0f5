"""A real HTTP server on loopback for provider sinks: records every request, answers through a handler.

Each provider's sink module supplies a handler that checks the request the way that provider would
(path, auth placement, required fields, limits) and answers like it (error bodies, 429 + Retry-After, ...).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up before the answer (the dispatcher's deadline, by design) is not an error here."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipeError, ConnectionResetError, ...
            return
        super().handle_error(request, client_address)


@dataclass
class SinkRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class SinkResponse:
    status: int = 200
    body: Any = field(default_factory=dict)  # dict/list -> JSON, bytes/str as is
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        return json.dumps(self.body).encode(), "application/json"


SinkHandler = Callable[[SinkRequest], SinkResponse]


class Sink:
    """`with Sink(handler) as sink:` serves on http://127.0.0.1:<free port> until the block ends."""

    def __init__(self, handler: SinkHandler) -> None:
        self.handler = handler
        self.requests: list[SinkRequest] = []
        self.responses: list[SinkResponse] = []
        # Scripted answers for the next requests (e.g. a 500 then the handler's normal answer).
        self.script: list[SinkResponse] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._request_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, request: SinkRequest) -> SinkResponse:
        with self._lock:
            self.requests.append(request)
            scripted = self.script.pop(0) if self.script else None
        response = scripted or self.handler(request)
        with self._lock:
            self.responses.append(response)
        return response

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, delayed ACKs add ~40 ms each.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = SinkRequest(
                    method=self.command,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = sink.answer(request)
                body, content_type = response.encoded()
                self.send_response(response.status)
                self.send_header("Content-Type", response.headers.get("Content-Type", content_type))
                for name, value in response.headers.items():
                    if name.lower() != "content-type":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        return Handler
