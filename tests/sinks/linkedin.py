"""A LinkedIn Conversions API stand-in: checks requests the way LinkedIn documents and answers like it.

* POST /oauth/v2/accessToken: LinkedIn's refresh-token grant (form-encoded; `grant_type=refresh_token`, `client_id`,
  `client_secret`, `refresh_token`). Not a form → 400 `invalid_request`, another grant → 400
  `unsupported_grant_type`, wrong client → 401 `invalid_client`, wrong refresh token → 400 `invalid_grant`;
  success → `{"access_token", "expires_in": 5184000, "refresh_token", "refresh_token_expires_in", "scope"}`.
* Path: POST /rest/conversionEvents; others → 404.
* Headers: `Authorization: Bearer <the static token, or one the sink issued>` (else 401 INVALID_ACCESS_TOKEN),
  `LinkedIn-Version` (missing → 400 VERSION_MISSING, not an active version → 426 NONEXISTENT_VERSION),
  `X-Restli-Protocol-Version: 2.0.0` (else 400).
* `X-RestLi-Method: BATCH_CREATE` with `{"elements": [...]}` (1 to 5,000) → 200 with one `{"status": ...}` per
  element, so a batch can partly fail; without it, a single create → 201 with an empty body, or the element's error.
* Per event: `conversion` = this sink's rule URN; `conversionHappenedAt` in epoch milliseconds within the past 90
  days; `user.userIds` present (a list) with at least one id or a userInfo first and last name; `SHA256_EMAIL` values
  64-character lower-case hex; `conversionValue.amount` a decimal string with an upper-case currency code.
* Over the rate limit (`rate_limited`, scripted by tests): 429 with LinkedIn's error body and no wait header.
* Accepted events land in `accepted`; `revoke_access_tokens()` makes every token refused (as when one expires).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.sinks.server import SinkRequest, SinkResponse

PATH = "/rest/conversionEvents"
TOKEN_PATH = "/oauth/v2/accessToken"
ACCESS_TOKEN_LIFETIME = 60 * 24 * 3600  # LinkedIn access tokens live 60 days
MAX_BATCH = 5000
MAX_AGE_MS = 90 * 24 * 3600 * 1000
_HASH = re.compile(r"[0-9a-f]{64}")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def linkedin_error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> SinkResponse:
    """LinkedIn's error body `{"status", "code", "message"}`."""
    return SinkResponse(status, {"status": status, "code": code, "message": message}, headers or {})


def rate_limited() -> SinkResponse:
    """LinkedIn's answer to an app or member over its daily limit. Rate Limits page
    (learn.microsoft.com/linkedin/shared/api-guide/concepts/rate-limits): "Rate limited requests will receive a 429
    response" (limits are per day and "reset at midnight UTC every day"; "In rare cases, LinkedIn may also return a 429
    response as part of infrastructure protection"). LinkedIn documents no wait header, so none is sent; the body is
    LinkedIn's error shape with the message integrators quote from its live answers (secondary: api-evangelist's
    linkedin-ads rate-limits profile, "Resource level throttle limit ...", "no Retry-After")."""
    return linkedin_error(
        429, "TOO_MANY_REQUESTS", "Resource level throttle limit for calls to this resource is reached."
    )


def oauth_error(status: int, error: str, description: str) -> SinkResponse:
    """LinkedIn's OAuth error body `{"error", "error_description"}`."""
    return SinkResponse(status, {"error": error, "error_description": description})


@dataclass
class LinkedInSink:
    """Sink handler for one ad account's conversion rule, its static access token and/or its OAuth app."""

    access_token: str | None  # a token the member generated (None: only tokens this sink issued work)
    conversion_rule_urn: str
    versions: frozenset[str]  # the active LinkedIn-Version values
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    refresh_token_expires_in: int = 300 * 24 * 3600  # what the token answer says is left of the refresh token
    clock: Callable[[], float] = time.time
    accepted: list[dict[str, Any]] = field(default_factory=list)
    issued_tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self.access_token = None
            self.issued_tokens.clear()

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self._token(request)
        if request.method != "POST" or request.path != PATH:
            return linkedin_error(404, "NOT_FOUND", f"No resource found for {request.path}")
        if not self._authorized(request.header("authorization") or ""):
            return linkedin_error(401, "INVALID_ACCESS_TOKEN", "Invalid access token")
        version = request.header("linkedin-version")
        if not version:
            return linkedin_error(400, "VERSION_MISSING", "A version must be present. Please specify a version.")
        if version not in self.versions:
            # LinkedIn names the version as YYYYMMDD whatever was sent: "Requested version 20240901 is not active"
            # for 202409 (PipedreamHQ/pipedream#18398, inovector/mixpost#166, ComposioHQ/composio#3113).
            return linkedin_error(426, "NONEXISTENT_VERSION", f"Requested version {version}01 is not active")
        if request.header("x-restli-protocol-version") != "2.0.0":
            return linkedin_error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version 2.0.0 is required")
        try:
            body = json.loads(request.body)
        except ValueError:
            return linkedin_error(400, "ILLEGAL_ARGUMENT", "Invalid JSON in the request body")
        if request.header("x-restli-method") == "BATCH_CREATE":
            return self._batch_create(body)
        return self._create(body)

    def _authorized(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            return scheme == "Bearer" and bool(token) and token in {self.access_token, *self.issued_tokens}

    def _token(self, request: SinkRequest) -> SinkResponse:
        if (request.header("content-type") or "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "The grant type is not supported")
        if (
            not self.client_id
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return oauth_error(401, "invalid_client", "Client authentication failed")
        if form.get("refresh_token") != self.refresh_token:
            return oauth_error(
                400, "invalid_grant", "The provided authorization grant or refresh token is invalid, expired or revoked"
            )
        token = f"AQX{secrets.token_urlsafe(32)}"
        with self._lock:
            self.issued_tokens.add(token)
        return SinkResponse(
            200,
            {
                "access_token": token,
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "refresh_token": self.refresh_token,
                "refresh_token_expires_in": self.refresh_token_expires_in,
                "scope": "r_ads,rw_conversions",
            },
        )

    def _batch_create(self, body: Any) -> SinkResponse:
        elements = body.get("elements") if isinstance(body, dict) else None
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_BATCH:
            return linkedin_error(400, "ILLEGAL_ARGUMENT", f"elements: 1 to {MAX_BATCH} conversion events")
        return SinkResponse(200, {"elements": [self._element_status(element) for element in elements]})

    def _create(self, body: Any) -> SinkResponse:
        result = self._element_status(body)
        if result["status"] != 201:
            return SinkResponse(result["status"], result["error"])
        return SinkResponse(201, b"")

    def _element_status(self, element: Any) -> dict[str, Any]:
        problem = self._problem(element)
        if problem:
            return {"status": 400, "error": {"status": 400, "code": "FIELD_VALIDATION_ERROR", "message": problem}}
        self.accepted.append(element)
        return {"status": 201}

    def _problem(self, event: Any) -> str | None:
        if not isinstance(event, dict):
            return "a conversion event must be an object"
        if event.get("conversion") != self.conversion_rule_urn:
            return "/conversion: unknown conversion rule"
        happened = event.get("conversionHappenedAt")
        now_ms = self.clock() * 1000
        if type(happened) is not int or len(str(happened)) != 13:
            return "/conversionHappenedAt: epoch milliseconds expected"
        if not now_ms - MAX_AGE_MS <= happened <= now_ms + 600_000:
            return "/conversionHappenedAt: must be within the past 90 days"
        return _user_problem(event.get("user")) or _value_problem(event.get("conversionValue"))


def _user_problem(user: Any) -> str | None:
    if not isinstance(user, dict) or not isinstance(user.get("userIds"), list):
        return "/user/userIds: field is required"
    for entry in user["userIds"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("idValue"), str) or not entry["idValue"]:
            return "/user/userIds: idType and idValue are required"
        if entry.get("idType") == "SHA256_EMAIL" and not _HASH.fullmatch(entry["idValue"]):
            return "/user/userIds: SHA256_EMAIL must be a SHA-256 hex digest"
    info = user.get("userInfo")
    named = isinstance(info, dict) and bool(info.get("firstName")) and bool(info.get("lastName"))
    if not user["userIds"] and not named:
        return "/user: at least one user id or userInfo firstName and lastName is required"
    return None


def _value_problem(value: Any) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("amount"), str)
        or not _DECIMAL.fullmatch(value["amount"])
    ):
        return "/conversionValue/amount: a decimal string is required"
    if not isinstance(value.get("currencyCode"), str) or not _CURRENCY.fullmatch(value["currencyCode"]):
        return "/conversionValue/currencyCode: an ISO-4217 code is required"
    return None
