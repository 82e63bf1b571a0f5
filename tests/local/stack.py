"""`make dev`: the whole service on this machine, no cloud account and no Docker (design §10).

moto server for DynamoDB/SQS/Secrets Manager in a process of its own (`aws_server.py`), resources created from
template.yaml, the API on http://127.0.0.1:${PORT:-3000} through the API Gateway stand-in, SQS pollers for the queue
consumers.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

from nimriz_destinations import aws, safe_json

from .aws_server import aws_server_process
from .template import ROOT

OPENAPI_PATH = ROOT / "docs" / "openapi.json"
MAX_LOCAL_EVENTS = 500
# SendMessageBatch takes at most 10 messages; a list of events goes out in that many calls at once, as the edge's many
# senders would, so posting 50 takes about as long as one call instead of five in a row.
SQS_BATCH = 10
CONCURRENT_SENDS = 10
LOCAL_DEFAULTS = {
    # Our own schedule only: a provider's stated wait (Retry-After, Google Ads' retryDelay, Meta's time to regain
    # access, Amplitude's 30 s) is honoured up to MAX_PROVIDER_WAIT_SECONDS (12 h) here as when deployed (design §8.1).
    "RETRY_BASE_SECONDS": "1",
    "RETRY_BACKOFF_FACTOR": "2",
    # The circuit's cool-down on the retries' scale: 30 s (deployed) would hold a flaky endpoint's jobs for as long
    # as six local retries take.
    "CIRCUIT_COOL_DOWN_SECONDS": "1",
    "CONFIG_CACHE_SECONDS": "1",
    "AUTH_CACHE_SECONDS": "1",
    # A resume's second read of the held index on the same scale: moto's index is consistent at once, and every
    # pipeline that resumes waits for it.
    "RELEASE_SWEEP_DELAY_SECONDS": "1",
}
# Settings the user's environment overrides over the template's values, e.g. short auto-disable thresholds so a
# demo of destination health takes seconds: AUTO_DISABLE_AFTER_SECONDS=5 AUTO_DISABLE_MIN_FAILURES=3 make dev
USER_SETTINGS = (
    *LOCAL_DEFAULTS,
    "HEALTH_FAILING_AFTER_FAILURES",
    "AUTO_DISABLE_AFTER_SECONDS",
    "AUTO_DISABLE_MIN_FAILURES",
)


def _swagger_assets() -> Path:
    import aws_lambda_powertools.event_handler.openapi as openapi

    return Path(openapi.__file__).parent / "swagger_ui"


SWAGGER_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nimriz Destinations API</title>
<link rel="stylesheet" href="/_local/swagger/swagger-ui.min.css"></head><body><div id="swagger"></div>
<script src="/_local/swagger/swagger-ui-bundle.min.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger"});</script></body></html>"""


class LocalServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.ready = threading.Event()
        self.gateway: Any = None
        self.live_events_queue_url = ""
        self.standins: Any = None  # tests.browser.pixel_standins.PixelStandins, unless the user points elsewhere
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.httpd.daemon_threads = True
        self._senders = ThreadPoolExecutor(max_workers=CONCURRENT_SENDS, thread_name_prefix="local-events")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, delayed ACKs add ~40 ms each.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                sys.stderr.write(f"[api] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _json(self, status: int, body: Any) -> None:
                self._send(status, {"Content-Type": "application/json"}, json.dumps(body).encode())

            def _dispatch(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if url.path == "/_local/health":
                    status = 200 if server.ready.is_set() else 503
                    return self._json(status, {"status": "ok" if status == 200 else "starting"})
                if not server.ready.is_set():
                    return self._json(503, {"status": "starting"})
                if url.path == "/_local/events" and self.command == "POST":
                    return self._json(*server.enqueue_events(body))
                if url.path == "/_local/pixel-hits" and self.command == "GET":
                    return self._json(200, {"hits": server.pixel_hits()})
                if url.path == "/openapi.json" and self.command == "GET":
                    return self._send(200, {"Content-Type": "application/json"}, OPENAPI_PATH.read_bytes())
                if url.path in ("/docs", "/swagger") and self.command == "GET":
                    return self._send(200, {"Content-Type": "text/html; charset=utf-8"}, SWAGGER_HTML.encode())
                if url.path.startswith("/_local/swagger/") and self.command == "GET":
                    return self._swagger_asset(url.path.rsplit("/", 1)[-1])
                headers = {name.lower(): value for name, value in self.headers.items()}
                result = server.gateway.handle(self.command, url.path, headers, parse_qs(url.query), body)
                self._send(result.status, result.headers, result.body)

            def _swagger_asset(self, name: str) -> None:
                path = _swagger_assets() / name
                if name not in ("swagger-ui.min.css", "swagger-ui-bundle.min.js") or not path.exists():
                    return self._json(404, {"error": "not found"})
                content_type = "text/css" if name.endswith(".css") else "application/javascript"
                self._send(200, {"Content-Type": content_type}, path.read_bytes())

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

            def __getattr__(self, name: str) -> Any:
                # http.server answers 501 with an HTML page for a method without a do_<METHOD>; API Gateway
                # answers every method (OPTIONS, HEAD, TRACE, ...) itself, so they all go to the gateway.
                if name.startswith("do_"):
                    return self._dispatch
                raise AttributeError(name)

        return Handler

    def pixel_hits(self) -> list[dict[str, str]]:
        """Pixel events the interstitial page's stand-in scripts reported (empty without the stand-ins)."""
        return [vars(hit) for hit in self.standins.hits()] if self.standins else []

    def enqueue_events(self, body: bytes | None) -> tuple[int, Any]:
        """Put one canonical event (or a JSON list of them) on the LiveEvents queue."""
        try:
            payload = safe_json.loads(body or b"")
        except safe_json.InvalidJson as exc:
            message = f"Send a JSON event or a JSON list of events ({exc.reason})."
            return 400, {"error": {"code": "INVALID_JSON", "message": message}}
        events = payload if isinstance(payload, list) else [payload]
        if not events or len(events) > MAX_LOCAL_EVENTS:
            return 400, {"error": {"code": "BAD_REQUEST", "message": f"Send 1 to {MAX_LOCAL_EVENTS} events."}}
        chunks = [events[start : start + SQS_BATCH] for start in range(0, len(events), SQS_BATCH)]
        message_ids = [message_id for sent in self._senders.map(self._send_chunk, chunks) for message_id in sent]
        return 202, {"queued": len(message_ids), "message_ids": message_ids}

    def _send_chunk(self, chunk: list[Any]) -> list[str]:
        response = aws.sqs().send_message_batch(
            QueueUrl=self.live_events_queue_url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps(event)} for i, event in enumerate(chunk)],
        )
        return [entry["MessageId"] for entry in response.get("Successful", [])]


@dataclass
class RunningStack:
    """A local stack started by `stack_process`."""

    base_url: str
    port: int
    process: subprocess.Popen[str]
    log_path: Path
    moto_url: str  # the stack's AWS stand-in (moto server), for callers that check it directly

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_environment(settings: Mapping[str, str], *, port: int, moto_port: int) -> dict[str, str]:
    """This process's environment with `settings`, less what it set for in-process functions (AWS, Powertools and
    NIMRIZ_ variables, the template's function settings, the local stack's own): the stack would take those for the
    user's choice (a benchmark run before once left RETRY_BACKOFF_FACTOR=4, the deployed value, to a local stack)."""
    from .template import function_environment_names

    inherited = function_environment_names() | set(USER_SETTINGS)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "POWERTOOLS", "NIMRIZ_")) and key not in inherited
    }
    return {**env, **settings, "PORT": str(port), "MOTO_PORT": str(moto_port)}


@contextlib.contextmanager
def stack_process(settings: Mapping[str, str], log_path: Path, *, ready_within: float = 90) -> Iterator[RunningStack]:
    """`python -m tests.local.stack` (what `make dev` runs) on free ports with `settings` in its environment
    (`stack_environment`), logging to `log_path`; stopped with Ctrl-C when the block ends."""
    port, moto_port = free_port(), free_port()
    env = stack_environment(settings, port=port, moto_port=moto_port)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.local.stack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    stack = RunningStack(f"http://127.0.0.1:{port}", port, process, log_path, f"http://127.0.0.1:{moto_port}")
    deadline = time.monotonic() + ready_within
    while not _healthy(stack.base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"local stack did not become healthy:\n{stack.log()}")
        time.sleep(0.3)
    try:
        yield stack
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise RuntimeError("local stack did not stop on Ctrl-C") from None


def _healthy(base_url: str) -> bool:
    try:
        with urlopen(f"{base_url}/_local/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:  # not listening yet, or 503 while starting
        return False


def main() -> None:
    port = int(os.environ.get("PORT", "3000"))
    server = LocalServer(port)  # bind first: a busy port fails fast
    threading.Thread(target=server.httpd.serve_forever, name="api", daemon=True).start()

    aws_stand_in = contextlib.ExitStack()
    aws_url = aws_stand_in.enter_context(aws_server_process(int(os.environ.get("MOTO_PORT", "0"))))
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "NimrizDestinationsLocal",
        }
    )
    from nimriz_destinations import runtime

    from .apigw import ApiGateway
    from .pollers import Pollers
    from .seed import parse_key_pairs, seed_keys
    from .template import create_stack

    stack = create_stack(stage="local")
    user_settings = {name: os.environ[name] for name in USER_SETTINGS if name in os.environ}
    os.environ.update(stack.all_function_environments())
    # Quick retries and config refresh locally; values set by the user win over both.
    os.environ.update({**LOCAL_DEFAULTS, **user_settings})
    # The interstitial page's pixel hosts point at local stand-ins unless the user set their own overrides.
    if "NIMRIZ_PIXEL_HOST_OVERRIDES" not in os.environ:
        from ..browser.pixel_standins import PixelStandins

        server.standins = PixelStandins().__enter__()
        os.environ["NIMRIZ_PIXEL_HOST_OVERRIDES"] = json.dumps(server.standins.host_overrides())
    os.environ.setdefault("INTERSTITIAL_PAGE_BASE_URL", f"http://127.0.0.1:{port}")
    runtime.reset()
    # The AWS clients every function of this process shares, made once now: the first concurrent calls (the sends of
    # a POST /_local/events, environments starting together) would each make their own, seconds of work under load.
    for make_client in (aws.dynamodb, aws.sqs, aws.sqs_first_try, aws.secretsmanager):
        make_client()
    dev_key = os.environ.get("NIMRIZ_DEV_API_KEY") or f"nim_dev_{secrets.token_urlsafe(24)}"
    extra_keys = parse_key_pairs(os.environ.get("NIMRIZ_DEV_API_KEYS", ""))
    seed_keys(stack.tables["DestinationsTable"], dev_key, extra_keys)
    # Stands in for AWS credentials on the admin API's AWS_IAM routes: `Authorization: Bearer <token>`.
    admin_token = os.environ.get("NIMRIZ_ADMIN_TOKEN") or f"nmz_admin_{secrets.token_urlsafe(24)}"
    server.gateway = ApiGateway(stage="local", admin_token=admin_token)
    server.live_events_queue_url = stack.queue_urls["LiveEventsQueue"]
    pollers = Pollers(stack)
    pollers.start()
    server.ready.set()

    base = f"http://127.0.0.1:{port}"
    print(
        f"\nNimriz Destinations local stack is ready\n"
        f"  API          {base}/api/integrations/destinations\n"
        f"  API docs     {base}/docs\n"
        f"  Health       {base}/_local/health\n"
        f"  Dev API key  {dev_key}   (workspace ws_dev)\n"
        f"  Other keys   {', '.join(w for w, _ in extra_keys) or 'none'}\n"
        f"  Admin API    {base}/admin/workspaces/{{workspace_id}}/api-keys\n"
        f"  Admin token  {admin_token}   (Authorization: Bearer; stands in for AWS_IAM)\n"
        f"  AWS (moto)   {aws_url}\n"
        f"  Pixel hosts  {server.standins.sink.url if server.standins else 'NIMRIZ_PIXEL_HOST_OVERRIDES'}"
        f"   (hits: {base}/_local/pixel-hits)\n"
        f"Ctrl-C stops everything.\n",
        flush=True,
    )

    stopping = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopping.set())
    # Sleep in short steps rather than block in Event.wait: a signal landing inside the wait's lock handling
    # could otherwise break it ("release unlocked lock") instead of stopping cleanly.
    while not stopping.is_set():
        time.sleep(0.2)
    print("stopping…", flush=True)
    pollers.stop()
    if server.standins:
        server.standins.__exit__(None, None, None)
    server.httpd.shutdown()
    aws_stand_in.close()


if __name__ == "__main__":
    main()
