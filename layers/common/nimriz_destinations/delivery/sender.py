"""Outbound HTTP for deliveries: one pooled httpx transport, explicit timeouts, no redirects, no cookies, the SSRF
guard on the address actually connected to, local egress overrides, and bounded responses.

Requests go to the transport itself, not through an `httpx.Client`: a client keeps the cookies every answer sets
and sends them with later requests to the same host, so one tenant's endpoint (or a host several tenants send to)
would see state from another's deliveries, and an endpoint setting new cookies would grow every later request
and the dispatcher's memory.

Bounded means a hostile endpoint cannot hold a dispatcher's memory or time:
* at most one content-coding layer is undone (gzip, x-gzip, deflate), with a cap on the DECODED bytes
  (`MAX_RESPONSE_BYTES` kept, reading stops there); any other coding, or more than one, leaves the body raw;
* every request has a total deadline (`REQUEST_DEADLINE_SECONDS` by default) over resolving the host, connect, TLS,
  sending and all reads: each step waits at most the smaller of its own timeout and what is left of the deadline,
  and none starts once it has passed. Python cannot interrupt a DNS lookup, so it runs on a thread of its own
  (`_look_up`) that the request stops waiting for at its deadline;
* what is read off the wire is bounded too, not only the body kept: at most `MAX_ANSWER_WIRE_BYTES` per request
  (status lines, headers, informational answers, chunk framing and body together) and `MAX_BODY_PIECES` pieces
  of body. Parsing is what costs there: an endpoint streaming `103 Early Hints` answers that never end kept a
  dispatcher thread busy parsing for the whole deadline (5 s of CPU for a 5 s deadline), and one sending its body
  a byte per chunk spent about a second of CPU on 64 KB.
Every exception on the send path becomes a `SendFailed` carrying its classified outcome (`classify_send_error`) and
whether the request may have gone out (`sent`): one the client could not build or refuse to write never did.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as ResolveTimeout
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from ..netguard import UnsafeDestination, check_resolved_address, check_url
from ..providers.base import OutboundRequest, Outcome, ProviderResponse

MAX_RESPONSE_BYTES = 64 * 1024  # decoded response bytes kept; reading stops there
# Bytes read off the wire for one answer: the kept body's 64 KB, what reads it in 64 KB pieces may bring beyond
# that, and 100 KB (the most h11 takes for one head) for the rest.
MAX_ANSWER_WIRE_BYTES = 256 * 1024
# Pieces of body (one per chunk or network read): a server flushing a line at a time sends a few hundred.
MAX_BODY_PIECES = 4096
ADDRESSES_TRIED = 4  # of those a host name resolves to, in the resolver's order
# Connect (3 s) plus one full read timeout (10 s) plus slack: a slow provider that answered within the
# per-operation timeouts still does; one trickling a byte at a time is cut here instead of every 10 s.
REQUEST_DEADLINE_SECONDS = 15.0
USER_AGENT = "Nimriz-Destinations/1.0"
# Sent with every request unless its provider sets them; only the codings `_read_body` undoes are offered.
_DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": USER_AGENT,
}
INVALID_REQUEST = "invalid_request"  # the request cannot be put on the wire at all

# zlib window bits per content coding we decode: gzip framing, or the zlib framing HTTP calls `deflate`.
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
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


class AnswerTooLong(httpx.ReadError):
    """More of one answer was to be read than MAX_ANSWER_WIRE_BYTES. Raised by the stream itself, as an httpx error:
    httpx maps httpcore's errors to its own by kind, which would leave only a message to tell this one by."""

    def __init__(self) -> None:
        super().__init__(f"the answer went on past {MAX_ANSWER_WIRE_BYTES // 1024} KB before its body ended")


class SendFailed(Exception):
    """The request got no HTTP answer; `outcome` says why and whether to retry (see `classify_send_error`), `sent`
    whether it may have gone out (False: it could not be built or written, so it is not an attempt)."""

    def __init__(self, outcome: Outcome, *, sent: bool = True) -> None:
        super().__init__(outcome.message or outcome.error_class)
        self.outcome = outcome
        self.sent = sent


def classify_send_error(exc: BaseException) -> Outcome | None:
    """The outcome of an exception raised while sending, or None when it is not a client/transport error.

    Timeouts and network failures are retried; a request the client cannot put on the wire (a header that is
    not valid HTTP or not ASCII, a URL that cannot be parsed or encoded) never will be, so it is permanent.
    Messages name the exception class only: the exception text may quote a header value, i.e. a secret.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.retry("timeout", f"no answer in time ({name})")
    if isinstance(exc, httpx.LocalProtocolError | UnicodeError):
        return Outcome.permanent(INVALID_REQUEST, f"a header or the host name cannot be sent over HTTP ({name})")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return Outcome.permanent(INVALID_REQUEST, f"the URL cannot be used ({name})")
    if isinstance(exc, AnswerTooLong):
        return Outcome.retry("network_error", str(exc))
    if isinstance(exc, httpx.TransportError):
        return Outcome.retry("network_error", f"connection failed ({name})")
    return None


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


class _GuardedBackend(httpcore.SyncBackend):
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


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, *, allow_loopback: bool, limits: httpx.Limits) -> None:
        # Loading the CA bundle is most of what making a transport costs (about 30 ms here): once, for both pools.
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, limits=limits, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allow_loopback=allow_loopback),
        )


def parse_egress_overrides(raw: str) -> dict[str, str]:
    """`NIMRIZ_EGRESS_OVERRIDES`: JSON object, destination type -> base URL (local stage only)."""
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("NIMRIZ_EGRESS_OVERRIDES must be a JSON object of destination type -> base URL")
    return value


def override_url(url: str, base: str) -> str:
    """Replace scheme, host and port with `base` (which may carry a path prefix); keep the original path."""
    original, target = urlsplit(url), urlsplit(base)
    path = target.path.rstrip("/") + (original.path or "/")
    return urlunsplit((target.scheme, target.netloc, path, original.query, ""))


class HttpSender:
    def __init__(
        self,
        *,
        allow_loopback: bool,
        egress_overrides: Mapping[str, str] | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        deadline_seconds: float = REQUEST_DEADLINE_SECONDS,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._overrides = dict(egress_overrides or {})
        self._deadline_seconds = deadline_seconds
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
        self._transport = _GuardedTransport(allow_loopback=allow_loopback, limits=limits)
        self._timeouts = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout).as_dict()

    @property
    def deadline_seconds(self) -> float:
        """The most one `send` can take (the dispatcher plans its invocation with it)."""
        return self._deadline_seconds

    def resolve_url(self, destination_type: str, url: str) -> str:
        base = self._overrides.get(destination_type)
        return override_url(url, base) if base else url

    def send(self, destination_type: str, request: OutboundRequest) -> ProviderResponse:
        """The provider's answer; raises SendFailed when there is none, UnsafeDestination when the SSRF guard
        refuses the URL or the address it resolves to."""
        # The URL rule's normalised form is what is called: what the guard judged is what httpx parses.
        url = check_url(self.resolve_url(destination_type, request.url), allow_loopback=self._allow_loopback)
        try:
            outgoing = httpx.Headers(_DEFAULT_HEADERS)
            outgoing.update(request.headers)
            built = httpx.Request(
                request.method, url, headers=outgoing, content=request.body, extensions={"timeout": self._timeouts}
            )
        except Exception as exc:  # e.g. a header value that is not text: nothing went out
            unbuilt = classify_send_error(exc) or Outcome.retry(
                "internal_error", f"the request could not be built ({type(exc).__name__})"
            )
            raise SendFailed(unbuilt, sent=False) from None
        entered = _current_request.set(_RequestBounds(time.monotonic() + self._deadline_seconds))
        try:
            reply = self._transport.handle_request(built)  # 3xx answers are returned as they are: no redirects
            try:
                # Raw bytes: httpx would decode every layer, each network read in one piece, before any cap.
                body, truncated = _read_body(reply.iter_raw(), reply.headers.get("content-encoding"))
                headers = {name.lower(): value for name, value in reply.headers.items()}
                return ProviderResponse(status=reply.status_code, headers=headers, body=body, truncated=truncated)
            finally:
                reply.close()
        except UnsafeDestination:
            raise
        except Exception as exc:
            outcome = classify_send_error(exc)
            if outcome is None:
                raise
            # A request the client refuses to write (a header h11 will not send) is refused before any byte goes out.
            raise SendFailed(outcome, sent=outcome.error_class != INVALID_REQUEST) from None
        finally:
            _current_request.reset(entered)

    def close(self) -> None:
        self._transport.close()


def _read_body(chunks: Iterator[bytes], content_encoding: str | None) -> tuple[bytes, bool]:
    """(body, truncated): the body with one content coding undone, at most MAX_RESPONSE_BYTES of it.

    No coding, an unknown one or more than one layer: the raw bytes, undecoded. `truncated` is True when the
    cap or MAX_BODY_PIECES was reached (the body may have ended exactly there).
    """
    codings = [coding.strip().lower() for coding in (content_encoding or "").split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    wbits = _ZLIB_WBITS.get(codings[0]) if len(codings) == 1 else None
    pieces = _FirstPieces(chunks)
    body, truncated = _read_raw(pieces) if wbits is None else _read_decoded(pieces, wbits)
    return body, truncated or pieces.last_taken


class _FirstPieces:
    """The first MAX_BODY_PIECES of a body's pieces; `last_taken` once the last of them was."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.last_taken = False

    def __iter__(self) -> Iterator[bytes]:
        for number, chunk in enumerate(islice(self._chunks, MAX_BODY_PIECES), start=1):
            self.last_taken = number == MAX_BODY_PIECES
            yield chunk


def _read_raw(chunks: Iterable[bytes]) -> tuple[bytes, bool]:
    collected = bytearray()
    for chunk in chunks:
        collected += chunk[: MAX_RESPONSE_BYTES - len(collected)]
        if len(collected) >= MAX_RESPONSE_BYTES:
            return bytes(collected), True
    return bytes(collected), False


def _read_decoded(chunks: Iterable[bytes], wbits: int) -> tuple[bytes, bool]:
    """Decompresses as it reads, never more than the cap: a few hundred compressed bytes can stand for
    gigabytes. A body that is not in the coding it claims is kept raw (its first MAX_RESPONSE_BYTES)."""
    decoder = zlib.decompressobj(wbits)
    decoded, raw = bytearray(), bytearray()
    for chunk in chunks:
        raw += chunk[: MAX_RESPONSE_BYTES - len(raw)]
        pending = chunk
        try:
            while pending and not decoder.eof and len(decoded) < MAX_RESPONSE_BYTES:
                decoded += decoder.decompress(pending, MAX_RESPONSE_BYTES - len(decoded))
                pending = decoder.unconsumed_tail
        except zlib.error:
            return bytes(raw), len(raw) >= MAX_RESPONSE_BYTES
        if len(decoded) >= MAX_RESPONSE_BYTES:
            return bytes(decoded), True
        if decoder.eof:
            break  # anything after the compressed stream is not part of the body
    return bytes(decoded), False
