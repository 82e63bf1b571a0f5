"""SSRF guard for every outbound URL a customer supplied (webhook URL, PostHog host, GTM container URL).

Two layers: `check_url` at save time (scheme, literal addresses, obvious internal names) and
`check_resolved_address` at send time on the address actually connected to (DNS can change after save).
Loopback (and plain http to it) is allowed only when the stage is local; link-local (cloud metadata),
private, multicast and reserved ranges are refused in every stage.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")


class UnsafeDestination(ValueError):
    """The URL or address must not be called."""


def _is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_resolved_address(address: str, *, allow_loopback: bool) -> None:
    """Refuse an address that is not a public unicast address (loopback only on the local stack)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        if allow_loopback:
            return
        raise UnsafeDestination("loopback addresses are not allowed")
    if ip.is_link_local:
        raise UnsafeDestination("link-local addresses (cloud metadata) are not allowed")
    if ip.is_multicast:
        raise UnsafeDestination("multicast addresses are not allowed")
    if ip.is_private or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        raise UnsafeDestination("private or reserved addresses are not allowed")


def check_url(url: str, *, allow_loopback: bool) -> None:
    """Static checks on a customer-supplied URL; raises UnsafeDestination with a customer-safe reason."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination("not a valid URL") from exc
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeDestination("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeDestination("credentials in the URL are not allowed; use headers")
    if port == 0:
        raise UnsafeDestination("port 0 is not allowed")
    loopback = _is_loopback_host(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and allow_loopback):
        raise UnsafeDestination("the URL must use https")
    if loopback:
        if allow_loopback:
            return
        raise UnsafeDestination("loopback hosts are not allowed")
    if host.endswith(_INTERNAL_SUFFIXES) or ("." not in host and not _is_ip_literal(host)):
        raise UnsafeDestination("internal host names are not allowed")
    if _is_ip_literal(host):
        check_resolved_address(host, allow_loopback=allow_loopback)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
