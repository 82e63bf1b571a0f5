"""moto answers each request atomically, as AWS does.

moto's backends are not safe for concurrent requests. A TransactWriteItems that is cancelled (a condition failed)
restores a deep copy of the whole table taken when it started, so a write another thread made meanwhile is lost
(measured with moto 5.2.5 in a plain script: 42 and 103 of 3,000 puts lost next to one thread of cancelled
transactions, none with this module), and copying a table while another thread writes to it raises `dictionary
changed size during iteration` out of the client call. The dispatcher calls
DynamoDB from many threads, so every stand-in (in-process `mock_aws` and the local stack's moto server) handles
one request at a time, each one whole.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_lock = threading.RLock()  # re-entrant: a moto action may make another request of its own


def _one_at_a_time[Handler: Callable[..., Any]](handle: Handler) -> Handler:
    if getattr(handle, "_atomic", False):
        return handle

    @functools.wraps(handle)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return handle(*args, **kwargs)

    atomic._atomic = True  # type: ignore[attr-defined]
    return atomic  # type: ignore[return-value]


def make_moto_atomic() -> None:
    """Serialise moto's handling of requests, in this process (idempotent)."""
    BotocoreStubber.process_request = _one_at_a_time(BotocoreStubber.process_request)  # type: ignore[method-assign]
    DomainDispatcherApplication.__call__ = _one_at_a_time(DomainDispatcherApplication.__call__)  # type: ignore[method-assign]
