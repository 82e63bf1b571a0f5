"""Outbound HTTP for deliveries: one pooled transport (`guarded_transport.py`: the SSRF guard on the address actually
connected to, a total deadline per request, a bound on what is read off the wire), explicit timeouts, no redirects,
no cookies, local egress overrides, and bodies kept within caps (`answer_body.py`).

Requests go to the transport itself, not through an `httpx.Client`: a client keeps the cookies every answer sets
and sends them with later requests to the same host, so one tenant's endpoint (or a host several tenants send to)
would see state from another's deliveries, and an endpoint setting new cookies would grow every later request
and the dispatcher's memory.

Every exception on the send path becomes a `SendFailed` carrying its classified outcome (`classify_send_error`) and
whether the request may have gone out (`sent`): one the client could not build or refuse to write never did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..netguard import UnsafeDestination, check_url
from ..providers.base import OutboundRequest, Outcome, ProviderResponse
from .answer_body import ACCEPTED_ENCODINGS, read_body
from .guarded_transport import AnswerTooLong, GuardedTransport, bounded_request

# Connect (3 s) plus one full read timeout (10 s) plus slack: a slow provider that answered within the
# per-operation timeouts still does; one trickling a byte at a time is cut here instead of every 10 s.
REQUEST_DEADLINE_SECONDS = 15.0
USER_AGENT = "Nimriz-Destinations/1.0"
# Sent with every request unless its provider sets them; only the codings `read_body` undoes are offered.
_DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": ACCEPTED_ENCODINGS,
    "Connection": "keep-alive",
    "User-Agent": USER_AGENT,
}
INVALID_REQUEST = "invalid_request"  # the request cannot be put on the wire at all


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
        self._transport = GuardedTransport(allow_loopback=allow_loopback, limits=limits)
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
        try:
            with bounded_request(self._deadline_seconds):
                reply = self._transport.handle_request(built)  # 3xx answers are returned as they are: no redirects
                try:
                    # Raw bytes: httpx would decode every layer, each network read in one piece, before any cap.
                    body, truncated = read_body(reply.iter_raw(), reply.headers.get("content-encoding"))
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
        headers = {name.lower(): value for name, value in reply.headers.items()}
        return ProviderResponse(status=reply.status_code, headers=headers, body=body, truncated=truncated)

    def close(self) -> None:
        self._transport.close()
