"""The provider interface: one module per destination type implements it.

A provider declares its credential schema (secret fields marked with `Secret`) and the action types it
supports. On the delivery side it does no I/O of its own: it maps a canonical event to its default payload, builds
HTTP requests from mapped payloads and credentials, and classifies responses into per-item outcomes. The
dispatcher does the I/O (sending, SSRF guard, egress overrides, recording), so adapters test without sockets.

Mapping, building and classifying are pure. The one state a provider may keep is an authorization cache: OAuth
providers (Google Ads, LinkedIn) exchange a refresh token for an access token in `authorize`, through the `send`
the dispatcher passes them, and keep it per credentials until shortly before it expires (`oauth.py`);
`runtime.reset()` empties those caches.

A preview never signs or derives (design §8.7): it builds requests from `preview_credentials`, where every secret is
`[redacted]` and what `authorize` would add is a placeholder, and an adapter computes every value that comes from a
secret (a webhook signature, a Basic token, a keyed hash) through `derived`, which gives a placeholder there.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, final, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from ..netguard import normalised_url
from ..redaction import REDACTED, redact_credentials

if TYPE_CHECKING:
    from ..mapping import PropertyMapping


class _SecretMarker:
    """Metadata marker: the annotated credential field is secret (Secrets Manager only, redacted in output)."""

    def __repr__(self) -> str:
        return "Secret"


SECRET = _SecretMarker()
# 32 bytes to make a generated value from, given what they are for: random, or derived from an idempotent request's
# nonce (service/idempotency.py `derive`), so that a retry makes the same value again.
RandomBytes = Callable[[str], bytes]


def fresh_random_bytes(purpose: str) -> bytes:
    return secrets.token_bytes(32)


SecretStr = Annotated[str, StringConstraints(min_length=1, max_length=4096, strip_whitespace=True), SECRET]
PlainStr = Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]


class Credentials(BaseModel):
    """Base of every provider's credential model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        return frozenset(name for name, info in cls.model_fields.items() if _is_secret(info.annotation, info.metadata))


def _is_secret(annotation: Any, metadata: list[Any]) -> bool:
    # `SecretStr | None` keeps the marker inside the union member's Annotated metadata, not on the field.
    if SECRET in metadata:
        return True
    if get_origin(annotation) is Annotated:
        return SECRET in annotation.__metadata__
    return any(_is_secret(argument, []) for argument in get_args(annotation))


class NoCredentials(Credentials):
    """For destination types that hold no credentials."""


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again later (network, timeout, 408, 429, 5xx, provider "try later", throttling)
    PERMANENT = "permanent"  # the provider refused it for good: dead-letter without retrying
    SKIPPED = "skipped"  # deliberately not sent (e.g. no usable identifier): recorded, never retried


# The error class of an answer saying the provider no longer serves the API version the adapter pins
# (docs/api-versions.md): permanent, counted by the dispatcher's `ApiVersionRetired` metric, which has its own alarm
# (docs/operations.md, "API version retired").
API_VERSION_RETIRED = "api_version_retired"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    error_class: str | None = None  # short machine-readable class, e.g. "http_429", "missing_identifier"
    message: str | None = None  # customer-safe detail (never a secret)
    retry_after: float | None = None  # seconds the provider asked us to wait
    # Not judged on its own: the provider refused the whole request, because of another item it named or of an item it
    # did not name (design §8.1, "refused together"). The group sender resends the item at once in a smaller request
    # (without the named item, or in halves), each request an attempt. In a request carrying only this item the
    # outcome is the item's own; in a larger one never resent (no time left) it is retried later like any RETRY.
    resend_now: bool = False
    # The provider is rate-limiting us (design §8.1): tried again after its stated wait (`retry_after`; the schedule's
    # when it states none), logged `throttled`, and not counted against the retry budget (up to a bound of its own).
    throttled: bool = False

    @classmethod
    def delivered(cls, message: str | None = None) -> Outcome:
        return cls(Verdict.DELIVERED, message=message)

    @classmethod
    def retry(cls, error_class: str, message: str | None = None, retry_after: float | None = None) -> Outcome:
        return cls(Verdict.RETRY, error_class, message, retry_after)

    @classmethod
    def throttle(cls, error_class: str, message: str | None = None, wait: float | None = None) -> Outcome:
        """The provider's rate limit refused the request; `wait`: seconds it says (or documents) to wait, if any."""
        return cls(Verdict.RETRY, error_class, message, wait, throttled=True)

    @classmethod
    def permanent(cls, error_class: str, message: str | None = None) -> Outcome:
        return cls(Verdict.PERMANENT, error_class, message)

    @classmethod
    def skipped(cls, error_class: str, message: str) -> Outcome:
        return cls(Verdict.SKIPPED, error_class, message)

    @classmethod
    def version_retired(cls, platform: str, version: str, message: str | None) -> Outcome:
        """The provider refused the request because it no longer serves `version`, the one the adapter pins: every
        delivery fails so until Nimriz moves to a newer version (then replay the dead letters)."""
        note = f"{platform} no longer serves API version {version}, which Nimriz uses; Nimriz must move to a newer one"
        return cls.permanent(API_VERSION_RETIRED, f"{note} ({message})" if message else note)

    @classmethod
    def resend(cls, message: str) -> Outcome:
        """Refused with its batch because of a batch-mate the provider named: resend now (see `resend_now`)."""
        return cls(Verdict.RETRY, "batch_mate_refused", message, resend_now=True)

    def refused_together(self) -> Outcome:
        """This refusal of a whole request that names no item, given to each item it carried: the group sender
        isolates the item it is about by resending the others in smaller requests (see `resend_now`)."""
        return replace(self, resend_now=True)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building one cost about
# three times as much, and one is built for every event an action sends. Nothing changes an item once built.
@dataclass(slots=True)
class DeliveryItem:
    """One delivery job after the privacy rules and the action's mapping."""

    delivery_id: str
    event: Mapping[str, Any]  # the privacy-filtered canonical event
    payload: dict[str, Any]  # the mapped payload (default mapping + overrides)
    reason: str  # live | retry | replay | test
    attempt: int  # 1-based


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    items: tuple[int, ...]  # positions, in the items given to build_requests, that this request carries
    secrets: tuple[str, ...] = ()  # values to redact wherever the request is recorded or shown
    # Per carried item, in `items` order (empty: none): what the adapter changed to fit the provider's limits, e.g.
    # a value cut to its maximum length; `classify` reports it in the delivered outcome's message.
    adjustments: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    truncated: bool = False  # reading stopped at the sender's cap: the body may go on beyond these bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Built:
    requests: list[OutboundRequest] = field(default_factory=list)
    skipped: dict[int, Outcome] = field(default_factory=dict)  # positions not sent, with why


Send = Callable[[OutboundRequest], ProviderResponse]


@dataclass(frozen=True, slots=True)
class PreviewAuthorization:
    """What a preview builds requests with instead of `authorize`'s result (a preview never uses the network)."""

    credentials: Mapping[str, Any]
    note: str | None = None  # tells the reader what the placeholders stand for


COMPUTED_AT_SEND = "[computed at send]"  # what a preview shows in place of a value computed from a secret


class PreviewCredentials(dict[str, Any]):
    """Credentials a preview builds requests with (`Provider.preview_credentials`): nothing in them is a secret, and
    `derived` gives placeholders when building with them."""


def derived(credentials: Mapping[str, Any], compute: Callable[[], str], shown_as: str = COMPUTED_AT_SEND) -> str:
    """A value an adapter computes from a secret (a signature, a Basic token, a keyed hash): `compute()` when sending,
    `shown_as` in a preview, which never signs or derives. List the value in the request's `secrets` too, so no record
    or excerpt shows it either."""
    return shown_as if isinstance(credentials, PreviewCredentials) else compute()


@dataclass(frozen=True, slots=True)
class ValidationMessage:
    """One problem a provider's validation channel reports (e.g. one of GA4's `validationMessages`)."""

    description: str
    field_path: str | None = None  # where in the request, as the provider names it (GA4's `fieldPath`)
    code: str | None = None  # the provider's code for it (GA4's `validationCode`) or the outcome's error class


class AuthorizationFailed(Exception):
    """`authorize` could not obtain credentials to send with; `outcome` says whether to retry or not."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message or outcome.error_class)
        self.outcome = outcome


class Provider:
    """What every destination type module defines (as a subclass instance named `PROVIDER`)."""

    destination_type: ClassVar[str]
    action_types: ClassVar[frozenset[str]]
    credentials_model: ClassVar[type[Credentials]] = NoCredentials
    # Customer-supplied URL fields of the credentials that must pass the SSRF guard.
    url_fields: ClassVar[tuple[str, ...]] = ()
    # False for destination types that deliver nothing server-side (the interstitial).
    delivers: ClassVar[bool] = True
    # How many items one request may carry (the dispatcher groups jobs per action up to this).
    max_batch_size: ClassVar[int] = 1
    # Whether operational notices (destination.* events) are sent; other types record them skipped `not_applicable`.
    receives_notices: ClassVar[bool] = False
    # True for OAuth providers: after a 401 the dispatcher calls forget_authorization and resends once.
    refreshes_authorization: ClassVar[bool] = False
    # (provider field, where it comes from) rows documenting `base: "default"`; docs are generated from them.
    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Secrets the service itself keeps in the stored credentials beside the customer's (a webhook's previous signing
    # secret during a rotation): not fields of the credentials model, never shown, masked and redacted like them.
    stored_secret_fields: ClassVar[frozenset[str]] = frozenset()

    # Why a validate-mode test-send (README, "Validating before going live") of this type reaches no validation
    # channel when `validation_channel` names none: what it would take, or why the provider has none.
    # Shown after the type, e.g. "segment has no validation channel: ...".
    no_validation_channel: ClassVar[str] = (
        "has no validation channel: any request would be ingested as live, so nothing was sent; the request shown "
        "is what a queued test-send would send"
    )

    def validation_channel(self, credentials: Mapping[str, Any]) -> str | None:
        """What a test send (`reason` "test") built with `credentials` reaches instead of production ingestion, in
        words for the answer (e.g. "the GA4 validation server, /debug/mp/collect"), or None when it has nothing
        else to reach: a validate-mode test-send then sends nothing (`no_validation_channel` says why)."""
        return None

    def validation_messages(
        self, request: OutboundRequest, response: ProviderResponse
    ) -> list[ValidationMessage] | None:
        """What the validation channel's answer to `request` lists, item by item, when it has such a list (GA4's
        `validationMessages`); None to report the classified outcome's message instead."""
        return None

    def generated_credentials(
        self, supplied: dict[str, Any], random_bytes: RandomBytes = fresh_random_bytes
    ) -> dict[str, Any]:
        """Values the service generates when the customer omits them (e.g. a webhook signing secret), each made from
        `random_bytes(<its name>)`."""
        return {}

    def kept_credentials(self, stored: Mapping[str, Any], supplied: Mapping[str, Any]) -> dict[str, Any]:
        """What replacing the `stored` credentials with `supplied` keeps of the stored ones: generated values the
        customer omitted, so a signing secret is never rotated by saving other credentials."""
        omitted = self.generated_credentials({}).keys() - supplied.keys()
        return {name: stored[name] for name in omitted if stored.get(name)}

    def rotated_signing_secret(
        self, stored: Mapping[str, Any], *, previous_expires_at: float | None
    ) -> dict[str, Any] | None:
        """The stored credentials with a new `signing_secret`, the current one kept to sign too until
        `previous_expires_at` (Unix seconds; None: not at all); None for a type that signs nothing."""
        return None

    @final
    def credential_hints(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """What responses and audit diffs show of stored credentials: the model's fields, secrets as hints only."""
        fields = self.credentials_model.model_fields
        shown = {name: value for name, value in credentials.items() if name in fields}
        return redact_credentials(shown, self.credentials_model.secret_fields())

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The provider's default mapping (`base: "default"`) of a privacy-filtered canonical event: a new payload
        sharing no dict or list with the event or with anything the adapter keeps, since the action's overrides then
        edit it in place (tests/unit/providers/test_default_payload_ownership.py)."""
        raise NotImplementedError(f"{self.destination_type} delivers nothing server-side")

    def mapping_problems(self, mapping: PropertyMapping) -> list[tuple[str, str]]:
        """(path under `property_mapping`, e.g. `overrides[2].to`, why) for what the mapping's overrides produce
        whatever the event holds that the provider would drop or refuse; checked when an action is saved (422)."""
        return []

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        """HTTP requests carrying `items` (batched up to the provider's limits), plus items deliberately skipped."""
        raise NotImplementedError(f"{self.destination_type} delivers nothing server-side")

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        """Per-item outcome of one response; the default reads the status code only."""
        return dict.fromkeys(request.items, classify_status(response))

    def authorize(self, credentials: Mapping[str, Any], send: Send) -> Mapping[str, Any]:
        """Credentials ready to build requests with (e.g. an OAuth access token added); cached by the provider."""
        return credentials

    def forget_authorization(self, credentials: Mapping[str, Any]) -> None:
        """Drop a cached authorization after the provider answered 401, so the next `authorize` refreshes it."""

    def can_refresh_authorization(self, credentials: Mapping[str, Any]) -> bool:
        """Whether a 401 is worth one `forget_authorization` + `authorize` + resend with these credentials (a
        provider whose destinations may hold either a static token or a refresh token answers per destination)."""
        return self.refreshes_authorization

    def credential_expiry(self, credentials: Mapping[str, Any]) -> datetime | None:
        """When these credentials stop working, as the last successful `authorize` learned it (e.g. an OAuth
        refresh token's end of life); None when unknown or never."""
        return None

    def credential_warnings(self, credential_hints: Mapping[str, Any]) -> list[str]:
        """What a destination with these (redacted) credentials should be told about them, e.g. that a token
        will expire; shown with the destination, never blocks saving it."""
        return []

    def preview_authorization(self, credentials: Mapping[str, Any]) -> PreviewAuthorization:
        """Placeholders for what `authorize` would add (a preview never uses the network); by default nothing."""
        return PreviewAuthorization(credentials)

    @final
    def preview_credentials(self, credentials: Mapping[str, Any]) -> PreviewAuthorization:
        """What a preview builds requests with: every secret as `[redacted]`, so nothing real can be derived from one,
        then `preview_authorization`'s placeholders."""
        secret_fields = self._secret_fields()
        masked = {
            name: _masked(value) if name in secret_fields and value is not None else value
            for name, value in credentials.items()
        }
        authorization = self.preview_authorization(masked)
        return replace(authorization, credentials=PreviewCredentials(authorization.credentials))

    @final
    def secret_values(self, credentials: Mapping[str, Any]) -> list[str]:
        """The value of every secret of these credentials, the stored ones included (each value of a secret mapping,
        e.g. headers)."""
        values: list[str] = []
        for name in self._secret_fields():
            value = credentials.get(name)
            if isinstance(value, Mapping):
                values += [str(item) for item in value.values()]
            elif value:
                values.append(str(value))
        return values

    def _secret_fields(self) -> frozenset[str]:
        return self.credentials_model.secret_fields() | self.stored_secret_fields


def _masked(value: Any) -> Any:
    return dict.fromkeys(value, REDACTED) if isinstance(value, Mapping) else REDACTED


def retry_after_seconds(response: ProviderResponse) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = (response.header("retry-after") or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():  # str.isdigit alone also passes digits float() refuses, e.g. "²"
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year or offset past what a date can hold
        return None
    return max(0.0, moment.timestamp() - time.time())


def classify_status(response: ProviderResponse) -> Outcome:
    """Design §8.1: 2xx delivered; 429 throttled (RFC 6585 §4, "rate limiting"), 408 and 5xx retryable, Retry-After
    honoured; other statuses permanent."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered()
    if status == 429:
        return Outcome.throttle("http_429", wait=retry_after_seconds(response))
    if status == 408 or status >= 500:
        return Outcome.retry(f"http_{status}", retry_after=retry_after_seconds(response))
    return Outcome.permanent(f"http_{status}")


# Every customer-supplied URL field: stored in the URL rule's normalised form; the SSRF guard judges it separately
# (at save with the stage's loopback policy, and at send).
HttpsUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=2048, strip_whitespace=True), AfterValidator(normalised_url)
]
