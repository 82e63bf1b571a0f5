"""The AWS stand-in: moto, corrected to behave and cost as AWS does, in this process or as a server of its own.

In the tests' process (`mock_aws`) the corrections are applied by `create_stack`. The local stack (`make dev`, the
end-to-end tests, `make bench`) runs moto's server in a process of its own, as AWS is another machine: its work then
never waits for the service's interpreter lock, nor the service's for its (design §10).

`python -m tests.local.aws_server [PORT]` serves on 127.0.0.1 (a free port unless given), prints its URL once it
listens, and stops when its standard input closes, which happens when the process that started it ends, however it
ends.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from . import ROOT, dynamodb_limits, moto_fidelity, moto_speed


def correct_moto() -> None:
    """moto in this process refuses what AWS refuses, behaves as the service relies on, at AWS's cost (idempotent)."""
    moto_fidelity.apply()
    dynamodb_limits.apply()
    moto_speed.apply()


@contextlib.contextmanager
def aws_server_process(port: int = 0) -> Iterator[str]:
    """A moto server process for as long as the block runs; yields its endpoint URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.local.aws_server", str(port)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the AWS stand-in did not start (exit code {process.wait()})")
        yield url
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Connections the kernel holds until the server accepts them: beyond these it drops new ones, which then wait a
    # second to retry. The service opens one per thread calling AWS (dozens at once); socketserver's default is 5.
    request_queue_size = 128


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """Serves a WSGI application over HTTP/1.1 connections kept open between requests, as AWS's endpoints are.

    moto's own server (werkzeug's) closes the connection after every answer, so every AWS call of the service paid
    a TCP connection and a thread on both sides. The request body is read whole before the application runs, so
    nothing of it is left on the connection for the next request to trip on.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # an answer's headers and body go out in separate writes
    application: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the service makes several AWS calls a second: keep the console readable

    def _serve(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411)  # the AWS SDKs send a Content-Length
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.connection.getsockname()[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: None  # the legacy write(): moto does not use it

        answer = self.application(environ, start_response)
        try:
            content = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


def main(argv: list[str]) -> int:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    correct_moto()
    handler = type("Handler", (_KeepAliveHandler,), {"application": DomainDispatcherApplication(create_backend_app)})
    server = _Server(("127.0.0.1", int(argv[0]) if argv else 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes it or ends
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
