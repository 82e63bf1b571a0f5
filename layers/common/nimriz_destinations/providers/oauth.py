"""The OAuth 2.0 refresh-token grant (RFC 6749 §6) that OAuth adapters (Google Ads, LinkedIn) authorize with, and
`RefreshingProvider`, their authorization side.

`RefreshTokenGrant` exchanges a destination's refresh token for an access token at the platform's token
endpoint (form-encoded `grant_type=refresh_token` with the client id and secret) and caches it, bounded, until
shortly before it expires; `forget` drops it after the platform answered 401, so the next use refreshes once.
It also remembers when the refresh token itself expires when the platform says so (`refresh_token_expires_in`,
sent by LinkedIn and by Google for time-limited grants): that is when the destination's credentials stop working.
`forget_all_tokens()` empties every grant's cache (`runtime.reset()`: tests and local-stack restarts).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from ..cache import TTLCache
from .base import (
    AuthorizationFailed,
    OutboundRequest,
    Outcome,
    PreviewAuthorization,
    Provider,
    ProviderResponse,
    Send,
    retry_after_seconds,
)
from .common import sha256_hex
from .responses import json_object, provider_message, typed

# The error codes of a refused token request (RFC 6749 §5.2); any other value is the class `oauth_error`.
OAUTH_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
TOKEN_CACHE_ENTRIES = 256
TOKEN_EXPIRY_MARGIN_SECONDS = 300.0  # refresh early: a request must not carry a token that expires in flight
MAX_LIFETIME_SECONDS = 10 * 365 * 86400.0  # a token answer's lifetimes beyond this are unreadable, not a date
ACCESS_TOKEN = "access_token"  # the credential `authorize` sets to a fresh access token
PREVIEW_ACCESS_TOKEN = "[obtained at send]"  # what a preview shows in a fresh token's place

# Every live grant, so one call can forget all cached tokens; weak, so a grant made by a test is not kept alive.
_grants: weakref.WeakSet[RefreshTokenGrant] = weakref.WeakSet()


def forget_all_tokens() -> None:
    """Drop every cached access token of every grant: the next `access_token` call fetches a new one."""
    for grant in list(_grants):
        grant.forget_all()


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_at: float  # on the grant's (monotonic) clock, margin included: stop using it from then on
    refresh_token_expires_at: datetime | None  # when the refresh token stops working, when the platform said


class RefreshTokenGrant:
    """Access tokens for credentials holding `client_id`, `client_secret` and `refresh_token`, cached per credentials;
    one grant per platform."""

    def __init__(
        self,
        *,
        platform: str,
        token_url: str,
        default_lifetime_seconds: float,
        max_lifetime_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_cached_tokens: int = TOKEN_CACHE_ENTRIES,
    ) -> None:
        self.platform = platform
        self.token_url = token_url
        self._default_lifetime = default_lifetime_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._tokens: TTLCache[AccessToken] = TTLCache(
            max_entries=max_cached_tokens, ttl_seconds=max_lifetime_seconds, clock=clock
        )
        _grants.add(self)

    def access_token(self, credentials: Mapping[str, Any], send: Send) -> AccessToken:
        """The cached token while it is fresh, else a new one from the token endpoint; AuthorizationFailed if none."""
        key = _token_key(credentials)
        token = self._tokens.get_or_load(key, lambda: self._fetch(credentials, send))
        if token.expires_at <= self._clock():
            self._tokens.invalidate(key)
            token = self._tokens.get_or_load(key, lambda: self._fetch(credentials, send))
        return token

    def cached(self, credentials: Mapping[str, Any]) -> AccessToken | None:
        """The token the last `access_token` call obtained for these credentials, if it is still cached."""
        return self._tokens.get(_token_key(credentials))

    def forget(self, credentials: Mapping[str, Any]) -> None:
        self._tokens.invalidate(_token_key(credentials))

    def forget_all(self) -> None:
        self._tokens.clear()

    def request(self, credentials: Mapping[str, Any]) -> OutboundRequest:
        """The refresh-token grant; its secrets are listed so the recorded request never shows them."""
        client_secret, refresh_token = str(credentials["client_secret"]), str(credentials["refresh_token"])
        form = {
            "grant_type": "refresh_token",
            "client_id": str(credentials["client_id"]),
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        return OutboundRequest(
            method="POST",
            url=self.token_url,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode(),
            items=(),
            secrets=(client_secret, refresh_token),
        )

    def _fetch(self, credentials: Mapping[str, Any], send: Send) -> AccessToken:
        request = self.request(credentials)
        response = send(request)
        body = json_object(response.body)
        value = body.get("access_token")
        if response.status != 200 or not isinstance(value, str) or not value:
            raise AuthorizationFailed(self._failure(request, response, body))
        lifetime = _seconds(body, "expires_in") or self._default_lifetime
        refresh_lifetime = _seconds(body, "refresh_token_expires_in")
        return AccessToken(
            value,
            self._clock() + lifetime - min(TOKEN_EXPIRY_MARGIN_SECONDS, lifetime / 2),
            datetime.fromtimestamp(self._wall_clock(), UTC) + timedelta(seconds=refresh_lifetime)
            if refresh_lifetime
            else None,
        )

    def _failure(self, request: OutboundRequest, response: ProviderResponse, body: dict[str, Any]) -> Outcome:
        if response.status in (408, 429) or response.status >= 500:
            return Outcome.retry(
                f"oauth_http_{response.status}",
                f"{self.platform}'s OAuth token endpoint is unavailable",
                retry_after_seconds(response),
            )
        if said := body.get("error"):
            # The token endpoint's words reach the outcome only as a code of the RFC or through the redactor.
            error = said if isinstance(said, str) and said in OAUTH_ERROR_CODES else None
            said = error or provider_message(said, request) or "an unreadable error"
            detail = provider_message(typed(body, "error_description", str), request)
            return Outcome.permanent(
                f"oauth_{error or 'error'}",
                f"{self.platform} refused to refresh the access token ({said}{': ' + detail if detail else ''}); "
                f"reconnect the {self.platform} account",
            )
        return Outcome.permanent(
            f"oauth_http_{response.status}", f"{self.platform}'s OAuth token endpoint returned no token"
        )


class RefreshingProvider(Provider):
    """The authorization side of a provider whose destinations hold a refresh token: `authorize` adds a fresh access
    token (cached by the grant), `forget_authorization` drops it after a 401, a preview shows a placeholder instead.
    Destinations that `can_refresh_authorization` says cannot refresh are sent with their credentials as given."""

    refreshes_authorization = True
    platform: ClassVar[str]
    token_url: ClassVar[str]
    default_token_lifetime_seconds: ClassVar[float]  # when the token answer has no usable expires_in
    max_token_lifetime_seconds: ClassVar[float]
    preview_note: ClassVar[str]  # tells a preview's reader where the access token comes from

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_cached_tokens: int = TOKEN_CACHE_ENTRIES,
    ) -> None:
        self._grant = RefreshTokenGrant(
            platform=self.platform,
            token_url=self.token_url,
            default_lifetime_seconds=self.default_token_lifetime_seconds,
            max_lifetime_seconds=self.max_token_lifetime_seconds,
            clock=clock,
            wall_clock=wall_clock,
            max_cached_tokens=max_cached_tokens,
        )

    def authorize(self, credentials: Mapping[str, Any], send: Send) -> Mapping[str, Any]:
        if not self.can_refresh_authorization(credentials):
            return credentials
        return {**credentials, ACCESS_TOKEN: self._grant.access_token(credentials, send).value}

    def forget_authorization(self, credentials: Mapping[str, Any]) -> None:
        if self.can_refresh_authorization(credentials):
            self._grant.forget(credentials)

    def credential_expiry(self, credentials: Mapping[str, Any]) -> datetime | None:
        token = self._grant.cached(credentials) if self.can_refresh_authorization(credentials) else None
        return token.refresh_token_expires_at if token else None

    def preview_authorization(self, credentials: Mapping[str, Any]) -> PreviewAuthorization:
        if not self.can_refresh_authorization(credentials):
            return PreviewAuthorization(credentials)
        note = f"{self.preview_note}; shown as {PREVIEW_ACCESS_TOKEN}."
        return PreviewAuthorization({**credentials, ACCESS_TOKEN: PREVIEW_ACCESS_TOKEN}, note=note)


def _token_key(credentials: Mapping[str, Any]) -> str:
    # A digest, so the cache never holds the refresh token as a key; any credential change gets a new token.
    parts = (credentials["client_id"], credentials["client_secret"], credentials["refresh_token"])
    return sha256_hex("\x1f".join(str(part) for part in parts))


def _seconds(body: object, name: str) -> float | None:
    """A positive lifetime in seconds from the token answer; None when it is not one a date can be reckoned with
    (no platform's tokens last beyond MAX_LIFETIME_SECONDS; LinkedIn's refresh tokens, the longest, last a year)."""
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_LIFETIME_SECONDS:
        return float(value)
    return None
