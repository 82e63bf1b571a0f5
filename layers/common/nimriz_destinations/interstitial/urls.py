"""Destination URLs a page may send visitors to, and where the page itself is served."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

MAX_DESTINATION_CHARS = 2048
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def check_destination_url(url: str) -> str:
    """An absolute http(s) URL of printable ASCII with a host and no user info; raises ValueError otherwise.

    Printable ASCII only (the edge sends the encoded URL): no whitespace or control characters that browsers
    strip or reinterpret, and no backslash, which browsers read as `/` in http URLs.
    """
    if len(url) > MAX_DESTINATION_CHARS:
        raise ValueError(f"a destination URL has at most {MAX_DESTINATION_CHARS} characters")
    if not _PRINTABLE_ASCII.fullmatch(url) or "\\" in url:
        raise ValueError("a destination URL is printable ASCII without spaces or backslashes; percent-encode it")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("a destination URL must start with http:// or https://")
    if not parts.hostname or "@" in parts.netloc:
        raise ValueError("a destination URL needs a host and no user name or password")
    try:
        _ = parts.port  # raises ValueError for an out-of-range or non-numeric port
    except ValueError:
        raise ValueError("a destination URL has an invalid port") from None
    return url


def destination_host(url: str) -> str:
    return urlsplit(url).hostname or ""


def page_base_url(configured: str, request_context: Mapping[str, Any], resource_path: str) -> str:
    """Where `/i/{token}` is served: the configured base, or the host and stage prefix the request came in on.

    API Gateway's `requestContext.path` is the path the client used (`/dev/api/...` on the execute-api host,
    `/api/...` behind a custom domain without a base path), so the prefix is what precedes the resource path.
    """
    if configured:
        return configured.rstrip("/")
    client_path = str(request_context.get("path") or "")
    prefix = client_path[: -len(resource_path)] if client_path.endswith(resource_path) else ""
    return f"https://{request_context.get('domainName', '')}{prefix}"
