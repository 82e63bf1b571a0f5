"""Outbound HTTP for deliveries: one pooled httpx client, explicit timeouts, no redirects, the SSRF guard on
the address actually connected to, local egress overrides, and capped response bodies.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from ..netguard import UnsafeDestination, check_resolved_address, check_url
from ..providers.base import OutboundRequest, ProviderResponse

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "Nimriz-Destinations/1.0"


class DeliveryTransportError(Exception):
    """The request did not get an HTTP answer (timeout, refused, reset, DNS): always retryable."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


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
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        addresses = [info[4][0] for info in infos]
        for address in addresses:
            # Every resolved address must be acceptable: a mixed answer is how rebinding attacks look.
            check_resolved_address(str(address), allow_loopback=self._allow_loopback)
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, *, allow_loopback: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
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
    ) -> None:
        self._allow_loopback = allow_loopback
        self._overrides = dict(egress_overrides or {})
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30)
        self._client = httpx.Client(
            transport=_GuardedTransport(allow_loopback=allow_loopback, limits=limits),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def resolve_url(self, destination_type: str, url: str) -> str:
        base = self._overrides.get(destination_type)
        return override_url(url, base) if base else url

    def send(self, destination_type: str, request: OutboundRequest) -> ProviderResponse:
        # The URL rule's normalised form is what is called: what the guard judged is what httpx parses.
        url = check_url(self.resolve_url(destination_type, request.url), allow_loopback=self._allow_loopback)
        try:
            with self._client.stream(request.method, url, headers=dict(request.headers), content=request.body) as reply:
                body = _read_capped(reply.iter_bytes(), MAX_RESPONSE_BYTES)
                headers = {name.lower(): value for name, value in reply.headers.items()}
                return ProviderResponse(status=reply.status_code, headers=headers, body=body)
        except UnsafeDestination:
            raise
        except httpx.TimeoutException as exc:
            raise DeliveryTransportError("timeout", f"no answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise DeliveryTransportError("network_error", f"connection failed ({type(exc).__name__})") from None

    def close(self) -> None:
        self._client.close()


def _read_capped(chunks: Iterable[bytes], limit: int) -> bytes:
    collected = bytearray()
    for chunk in chunks:
        collected += chunk[: limit - len(collected)]
        if len(collected) >= limit:
            break
    return bytes(collected)
