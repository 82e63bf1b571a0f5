"""moto answers each DynamoDB request atomically, as DynamoDB does.

moto's DynamoDB backend is not safe for concurrent requests. A TransactWriteItems that is cancelled (a condition
failed) restores a deep copy of the whole table taken when it started, so a write another thread made meanwhile is
lost (measured with moto 5.2.5 in a plain script: 42 and 103 of 3,000 puts lost next to one thread of cancelled
transactions, none with this module), and copying a table while another thread writes to it raises `dictionary
changed size during iteration` out of the client call. The dispatcher calls DynamoDB from many threads, so every
stand-in (in-process `mock_aws` and the local stack's moto server) handles one DynamoDB request at a time, each one
whole. Other services are left concurrent: an SQS long poll waits inside moto and must not hold anyone else up.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_DYNAMODB_TARGET = "DynamoDB_"  # X-Amz-Target of every DynamoDB JSON API request
_lock = threading.RLock()  # re-entrant: a moto action may make another request of its own
_installed = False


def make_moto_atomic() -> None:
    """Serialise moto's handling of DynamoDB requests in this process (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    process_request = BotocoreStubber.process_request
    serve = DomainDispatcherApplication.__call__

    @functools.wraps(process_request)
    def process_request_atomically(self: BotocoreStubber, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        if (target.decode() if isinstance(target, bytes) else target).startswith(_DYNAMODB_TARGET):
            with _lock:
                return process_request(self, request)
        return process_request(self, request)

    @functools.wraps(serve)
    def serve_atomically(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(_DYNAMODB_TARGET):
            with _lock:
                return serve(self, environ, start_response)
        return serve(self, environ, start_response)

    BotocoreStubber.process_request = process_request_atomically  # type: ignore[method-assign]
    DomainDispatcherApplication.__call__ = serve_atomically  # type: ignore[method-assign]
