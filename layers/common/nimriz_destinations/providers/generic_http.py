"""Generic HTTP: signed webhooks to any customer endpoint (design §8.8, fixed envelope and headers).

One delivery per request. The body is the envelope `{id, type, api_version, created_at, organization_id,
workspace_id, data}` with the mapped payload as `data`; `X-Nim-Signature: v1=<hex>` is the HMAC-SHA256 of
`"<X-Nim-Timestamp>.<raw body>"` keyed with the UTF-8 bytes of the signing secret. `sign` and
`verify_signature` are the reference implementation of that contract for receivers.

A rotation (`rotated_signing_secret`) keeps the replaced secret in the stored credentials with its expiry; until
then the header lists both signatures, space-separated, newest first (`v1=<new> v1=<old>`), so a receiver moves to
the new secret at its own pace: it accepts a request when any listed signature matches one of its secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema, field_validator

from ..clock import iso_from_unix
from ..event_fields import EVENT_OBJECTS, compile_event_data
from .base import (
    COMPUTED_AT_SEND,
    SECRET,
    Built,
    Credentials,
    DeliveryItem,
    HttpsUrl,
    OutboundRequest,
    Outcome,
    Provider,
    ProviderResponse,
    RandomBytes,
    SecretStr,
    classify_status,
    derived,
    fresh_random_bytes,
)
from .common import json_bytes
from .responses import provider_message

# Headers we set ourselves (or that transport owns); a customer header must not override them.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
)
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
_VISIBLE_ASCII_AND_SPACES = re.compile(r"[\x20-\x7e]*")


def _header_value(value: str) -> str:
    # What HTTP/1.1 can carry as-is: anything else fails every send or reaches the endpoint as a raw control byte.
    if not _VISIBLE_ASCII_AND_SPACES.fullmatch(value):
        raise ValueError("header values are visible ASCII characters and spaces only (no tab, control or non-ASCII)")
    return value.strip(" ")  # the HTTP client refuses surrounding spaces; they carry no meaning in a header


HeaderValue = Annotated[
    str,
    StringConstraints(max_length=4096),
    AfterValidator(_header_value),
    WithJsonSchema({"type": "string", "maxLength": 4096, "pattern": "^[ -~]*$"}),  # the same rule, documented
]

TEST_EVENT_TYPE = "nim.webhook.test"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
SIGNING_SECRET = "signing_secret"
# Kept by a rotation in the stored credentials, never given by customers: the replaced secret, and until when (Unix
# seconds) it still signs.
PREVIOUS_SIGNING_SECRET = "previous_signing_secret"
PREVIOUS_SECRET_EXPIRES_AT = "previous_signing_secret_expires_at"
_ROTATION_FIELDS = (PREVIOUS_SIGNING_SECRET, PREVIOUS_SECRET_EXPIRES_AT)

# The canonical event's top-level data fields; the envelope fields (id, type, ...) are not repeated in `data`.
_DATA_SCALARS = ("occurred_at", "touch_type", "bot_flag", "privacy_mode")
_event_data = compile_event_data(_DATA_SCALARS, EVENT_OBJECTS)


class GenericHttpCredentials(Credentials):
    url: HttpsUrl
    method: Literal["POST", "PUT"] = "POST"
    headers: Annotated[dict[HeaderName, HeaderValue], Field(max_length=20), SECRET] = Field(default_factory=dict)
    signing_secret: SecretStr | None = None

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in headers if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-nim-"))
        if bad:
            raise ValueError(f"these headers are set by Nimriz and cannot be overridden: {', '.join(bad)}")
        return headers


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Nim-Signature` value: `v1=` + lowercase hex HMAC-SHA256 of `"<timestamp>.<body>"`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def signature_header(secrets: Sequence[str], timestamp: int | str, body: bytes) -> str:
    """The `X-Nim-Signature` value signed with each of `secrets`, newest first: `v1=<hex> v1=<hex>`."""
    return " ".join(sign(secret, timestamp, body) for secret in secrets)


def verify_signature(
    secret: str | Sequence[str],
    header_value: str,
    timestamp: int | str,
    body: bytes,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when a signature listed in `header_value` signs `body` at `timestamp` with `secret` (or with any of a
    list of secrets, a receiver's own during its rotation) and the timestamp is within the tolerance of `now`.

    The header lists one signature, or two during a rotation (`v1=<new> v1=<old>`): any match is enough, and
    entries of other versions are ignored. `body` must be the raw request bytes (verify before parsing JSON); each
    comparison is constant-time.
    """
    timestamp_text = str(timestamp).strip()
    if not (timestamp_text.isascii() and timestamp_text.isdigit()):  # isdigit alone passes "²", which int() refuses
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp_text)) > tolerance_seconds:
        return False
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    listed = [entry for entry in header_value.split() if entry.startswith(f"{SIGNATURE_VERSION}=")]
    expected = [sign(candidate, timestamp_text, body) for candidate in secrets_]
    return any(hmac.compare_digest(entry, signature) for entry in listed for signature in expected)


def signing_secrets(credentials: Mapping[str, Any], *, now: float) -> list[str]:
    """The secrets that sign a request sent at `now`, newest first: the current one, and the previous one until its
    expiry."""
    current = [credentials[SIGNING_SECRET]] if credentials.get(SIGNING_SECRET) else []
    previous = credentials.get(PREVIOUS_SIGNING_SECRET)
    if previous and now < float(credentials.get(PREVIOUS_SECRET_EXPIRES_AT) or 0):
        return [*current, previous]
    return current


class GenericHttp(Provider):
    destination_type = "generic_http"
    action_types = frozenset({"send_webhook"})
    credentials_model = GenericHttpCredentials
    url_fields = ("url",)
    max_batch_size = 1  # the envelope carries exactly one event
    receives_notices = True

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("(request)", "`method` and `url` from the credentials; one event per request; redirects are not followed"),
        (
            "(body)",
            "JSON envelope {id, type, api_version, created_at, organization_id, workspace_id, data}; "
            "the mapped payload is `data`, the envelope itself cannot be changed by a mapping",
        ),
        ("id", "event `id` (stable across retries and replays: deduplicate on it)"),
        ("type", f"event `type`; `{TEST_EVENT_TYPE}` for test sends"),
        ("api_version", "event `api_version`"),
        ("created_at", "send time of this attempt, RFC 3339 UTC with milliseconds"),
        ("organization_id, workspace_id", "the event's routing keys"),
        *((f"data.{name}", f"event `{name}` when present") for name in _DATA_SCALARS),
        *(
            (f"data.{name}", f"event `{name}` object when present: {', '.join(keys)} (only the keys present)")
            for name, keys in EVENT_OBJECTS.items()
        ),
        (
            "data (operational notices)",
            "for `destination.failing`, `destination.disabled`, `destination.recovered`: {destination_id, name, type, "
            "health, last_error_class, last_http_status} about another destination of the workspace, as it is (no "
            "mapping); sent only to actions whose include.event_types lists the type",
        ),
        ("data (privacy)", "strict mode: no visitor.visitor_hash, context.city, context.region; never IP or UA"),
        ("data (other keys)", "unknown/extra event fields are not forwarded unless a mapping `include`s them"),
        ("X-Nim-Event-Id, X-Nim-Event-Type", "same values as body `id` and `type`"),
        ("X-Nim-Timestamp", "Unix seconds of this attempt (the signed timestamp)"),
        ("X-Nim-Delivery-Attempt", "1-based attempt number"),
        ("X-Nim-Delivery-Reason", "live | retry | replay | test"),
        (
            "X-Nim-Signature",
            'v1=<lowercase hex HMAC-SHA256 of "<X-Nim-Timestamp>.<raw body>" with the signing secret>; during a '
            "rotation's overlap two, space-separated, newest first: v1=<with the new secret> v1=<with the old one>",
        ),
        ("(custom headers)", "every header from the credentials `headers`, unchanged"),
    )

    stored_secret_fields = frozenset({PREVIOUS_SIGNING_SECRET})

    def generated_credentials(
        self, supplied: dict[str, Any], random_bytes: RandomBytes = fresh_random_bytes
    ) -> dict[str, Any]:
        if supplied.get(SIGNING_SECRET):
            return {}
        return {SIGNING_SECRET: _new_signing_secret(random_bytes(SIGNING_SECRET))}

    def kept_credentials(self, stored: Mapping[str, Any], supplied: Mapping[str, Any]) -> dict[str, Any]:
        # A rotation's overlap outlives a save that keeps the signing secret; a save that sets another one ends it.
        kept = super().kept_credentials(stored, supplied)
        if supplied.get(SIGNING_SECRET, stored.get(SIGNING_SECRET)) == stored.get(SIGNING_SECRET):
            kept.update({name: stored[name] for name in _ROTATION_FIELDS if name in stored})
        return kept

    def rotated_signing_secret(
        self, stored: Mapping[str, Any], *, previous_expires_at: float | None
    ) -> dict[str, Any] | None:
        # Only the secret being replaced is kept: a rotation during an overlap ends the older secret's at once.
        rotated = {name: value for name, value in stored.items() if name not in _ROTATION_FIELDS}
        rotated[SIGNING_SECRET] = _new_signing_secret(fresh_random_bytes(SIGNING_SECRET))
        if previous_expires_at is not None and stored.get(SIGNING_SECRET):
            rotated[PREVIOUS_SIGNING_SECRET] = stored[SIGNING_SECRET]
            rotated[PREVIOUS_SECRET_EXPIRES_AT] = previous_expires_at
        return rotated

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event's data: its documented non-envelope fields (nulls dropped, unknown keys never copied)."""
        return _event_data(event)

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        # Credentials are read as stored (validated at save time), not re-validated: a pydantic error here would
        # echo the secret values it was given.
        signing_with = signing_secrets(credentials, now=now)
        custom_headers: Mapping[str, str] = credentials.get("headers") or {}
        built = Built()
        if not signing_with:
            missing = Outcome.permanent(
                "missing_signing_secret", "the destination has no signing secret; save it again"
            )
            built.skipped = dict.fromkeys(range(len(items)), missing)
            return built
        # Every secret stored (an expired previous one included) and every signature: an endpoint may echo them.
        stored_secrets = self.secret_values(credentials)
        for position, item in enumerate(items):
            body, headers = _signed_envelope(item, credentials, signing_with, now)
            digests = [entry.removeprefix(f"{SIGNATURE_VERSION}=") for entry in headers["X-Nim-Signature"].split()]
            built.requests.append(
                OutboundRequest(
                    method=credentials.get("method") or "POST",
                    url=credentials["url"],
                    headers={**custom_headers, **headers},
                    body=body,
                    items=(position,),
                    secrets=(*stored_secrets, *digests),
                )
            )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        return dict.fromkeys(request.items, _webhook_outcome(request, response))


def _new_signing_secret(random: bytes) -> str:
    # As secrets.token_urlsafe(32) writes its bytes: URL-safe base64 without padding.
    return "whsec_" + base64.urlsafe_b64encode(random).rstrip(b"=").decode()


def _signed_envelope(
    item: DeliveryItem, credentials: Mapping[str, Any], signing_with: Sequence[str], now: float
) -> tuple[bytes, dict[str, str]]:
    event = item.event
    event_type = TEST_EVENT_TYPE if item.reason == "test" else str(event["type"])
    envelope = {
        "id": event["id"],
        "type": event_type,
        "api_version": event["api_version"],
        "created_at": iso_from_unix(now),
        "organization_id": event["organization_id"],
        "workspace_id": event["workspace_id"],
        "data": item.payload,
    }
    body = json_bytes(envelope)
    timestamp = int(now)
    headers = {
        "Content-Type": "application/json",
        "X-Nim-Event-Id": str(event["id"]),
        "X-Nim-Event-Type": event_type,
        "X-Nim-Timestamp": str(timestamp),
        "X-Nim-Delivery-Attempt": str(item.attempt),
        "X-Nim-Delivery-Reason": item.reason,
        "X-Nim-Signature": derived(
            credentials,
            lambda: signature_header(signing_with, timestamp, body),
            " ".join(f"{SIGNATURE_VERSION}={COMPUTED_AT_SEND}" for _ in signing_with),
        ),
    }
    return body, headers


def _webhook_outcome(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    """Design §8.1 status rules, plus: a redirect is a failure (we never follow one) and 410 Gone is final."""
    status = response.status
    if 300 <= status < 400:
        target = _location_host(request, response)
        return Outcome.permanent(
            "redirect_not_followed",
            f"the endpoint answered {status} redirecting to {target}; redirects are not followed, so set the "
            "destination URL to the final address",
        )
    if status == 410:
        return Outcome.permanent(
            "endpoint_gone", "the endpoint answered 410 Gone: it no longer accepts deliveries; update or remove it"
        )
    return classify_status(response)


def _location_host(request: OutboundRequest, response: ProviderResponse) -> str:
    # Only the host (and port): the Location path or query may carry tokens that do not belong in delivery records.
    # As written, not `hostname` (lower-cased), so the redactor recognises a secret of the request in it.
    location = response.header("location")
    if not location:
        return "nowhere (no Location header)"
    try:
        parsed = urlsplit(location.strip())
        readable = parsed.hostname is not None
    except ValueError:
        readable = False
    host = provider_message(parsed.netloc.rpartition("@")[2], request) if readable else None
    return host or "a relative or unreadable Location"


PROVIDER = GenericHttp()
