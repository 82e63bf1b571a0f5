"""The transport deliveries go out through: connections only to addresses the SSRF guard accepts, every operation
within the request's deadline, and a bound on what one answer may make us read.

Bounded means a hostile endpoint (or a tenant's own DNS) cannot hold a dispatcher's time:
* every request has a total deadline over resolving the host, connect, TLS, sending and all reads (`bounded_request`):
  each step waits at most the smaller of its own timeout and what is left of the deadline, and none starts once it
  has passed. Python cannot interrupt a DNS lookup, so it runs on a thread of its own (`_look_up`) that the request
  stops waiting for at its deadline;
* what is read off the wire is bounded, not only the body kept: at most `MAX_ANSWER_WIRE_BYTES` per request (status
  lines, headers, informational answers, chunk framing and body together). Parsing is what costs there: an endpoint
  streaming `103 Early Hints` answers that never end kept a dispatcher thread busy parsing for the whole deadline
  (5 s of CPU for a 5 s deadline).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as ResolveTimeout
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ..netguard import check_resolved_address

# Bytes read off the wire for one answer: the kept body's 64 KB, what reads it in 64 KB pieces may bring beyond
# that, and 100 KB (the most h11 takes for one head) for the rest.
MAX_ANSWER_WIRE_BYTES = 256 * 1024
ADDRESSES_TRIED = 4  # of those a host name resolves to, in the resolver's order
_WRITE_PIECE_BYTES = 16 * 1024  # writes go out in pieces so each one is bounded by what is left of the deadline
# The lookups under way, by (host, port): a request needing one that is under way waits for it, not for another.
_lookups: dict[tuple[str, int], Future[list[Any]]] = {}
_lookups_lock = threading.Lock()


@dataclass(slots=True)
class _RequestBounds:
    """What the request being sent may still take: until `deadline` (time.monotonic), `wire_bytes_left` more."""

    deadline: float
    wire_bytes_left: int = MAX_ANSWER_WIRE_BYTES


# The bounds of the request the current thread is sending: pooled connections outlive requests, so the bounds
# travel with the request, not with the connection.
_current_request: ContextVar[_RequestBounds | None] = ContextVar("current_request", default=None)


@contextmanager
def bounded_request(deadline_seconds: float) -> Iterator[None]:
    """Within it, the current thread's request through a `GuardedTransport` ends by `deadline_seconds` from now and
    reads at most `MAX_ANSWER_WIRE_BYTES`."""
    entered = _current_request.set(_RequestBounds(time.monotonic() + deadline_seconds))
    try:
        yield
    finally:
        _current_request.reset(entered)


class AnswerTooLong(httpx.ReadError):
    """More of one answer was to be read than MAX_ANSWER_WIRE_BYTES. Raised by the stream itself, as an httpx error:
    httpx maps httpcore's errors to its own by kind, which would leave only a message to tell this one by."""

    def __init__(self) -> None:
        super().__init__(f"the answer went on past {MAX_ANSWER_WIRE_BYTES // 1024} KB before its body ended")


def _within_deadline(timeout: float | None, expired: type[Exception]) -> float | None:
    """`timeout` shortened to what is left of the current request's deadline; `expired` once none is left."""
    bounds = _current_request.get()
    if bounds is None:
        return timeout
    remaining = bounds.deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the request's total deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation also stops at the current request's deadline, and whose reads stop at
    what is left of its wire bytes."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bounded = _within_deadline(timeout, httpcore.ReadTimeout)
        bounds = _current_request.get()
        if bounds is None:
            return self._stream.read(max_bytes, bounded)
        if bounds.wire_bytes_left <= 0:
            raise AnswerTooLong
        data = self._stream.read(min(max_bytes, bounds.wire_bytes_left), bounded)
        bounds.wire_bytes_left -= len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_PIECE_BYTES):
            piece = buffer[start : start + _WRITE_PIECE_BYTES]
            self._stream.write(piece, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def _look_up(host: str, port: int) -> Future[list[Any]]:
    """`socket.getaddrinfo` of (host, port), on a thread of its own, shared by every request that needs it while it
    runs. A tenant answers for its own names' DNS and may make each lookup last the resolver's whole timeout; a
    shared pool of lookup threads would let its names hold every thread and make another's lookup wait. Threads are
    bounded all the same: each sending thread waits for one lookup at a time, at most its deadline, and a lookup it
    stopped waiting for ends when the resolver gives up."""
    key = (host, port)
    with _lookups_lock:
        if (running := _lookups.get(key)) is not None:
            return running
        lookup: Future[list[Any]] = Future()
        _lookups[key] = lookup
    threading.Thread(target=_resolve, args=(key, lookup), name="resolve", daemon=True).start()
    return lookup


def _resolve(key: tuple[str, int], lookup: Future[list[Any]]) -> None:
    try:
        lookup.set_result(socket.getaddrinfo(*key, type=socket.SOCK_STREAM))
    except BaseException as failure:  # handed to every request waiting for it
        lookup.set_exception(failure)
    finally:
        with _lookups_lock:
            del _lookups[key]


class GuardedBackend(httpcore.SyncBackend):
    """Resolves the host itself and connects only to an address the SSRF guard accepts (no DNS rebinding)."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        lookup = _look_up(host, port)
        try:
            infos = lookup.result(timeout=_within_deadline(timeout, httpcore.ConnectTimeout))
        except ResolveTimeout:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))  # each once, in the resolver's order
        for address in addresses:
            # Every resolved address must be acceptable: a mixed answer is how rebinding attacks look.
            check_resolved_address(address, allow_loopback=self._allow_loopback)
        # Each address in turn, as socket.create_connection does: a host whose first address refuses or does not
        # answer (one node of several down) is still reached through the others, within the request's deadline. A
        # few only: a name the tenant's DNS answers with thousands would make each request a scan of them.
        failed: httpcore.ConnectError | httpcore.ConnectTimeout = httpcore.ConnectError(f"no address for {host}")
        for address in addresses[:ADDRESSES_TRIED]:
            bounded = _within_deadline(timeout, httpcore.ConnectTimeout)
            try:
                return _DeadlineStream(super().connect_tcp(address, port, bounded, local_address, socket_options))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failed = error
        raise failed


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport, its pool connecting through `GuardedBackend`."""

    def __init__(self, *, allow_loopback: bool, limits: httpx.Limits) -> None:
        # Loading the CA bundle is most of what making a transport costs (about 30 ms here): once, for both pools.
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, limits=limits, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_loopback=allow_loopback),
        )
