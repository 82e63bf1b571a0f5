"""What the four ad-platform conversion adapters (Meta, Google Ads, LinkedIn, TikTok) share.

* Which events are sent at all: conversions only, and only the positive outcomes (`lead`, `sale`): none of these
  APIs takes a negative conversion, so refunds, cancellations and reversals are SKIPPED `unsupported_outcome`,
  except by Google Ads, which sends them as adjustments of the sale they undo (its own requests, built with
  `outcomes=ADJUSTED_OUTCOMES`).
* Identity: click ids from the canonical `click_ids`, and the customer-supplied `conversion.email` /
  `conversion.phone`, normalised per platform and SHA-256 hashed (lower-case hex). `hashed` passes values that
  already are SHA-256 hex through, so adapters can re-apply it to the final (mapped) payload: whatever a mapping
  override puts into a field the platform wants hashed leaves hashed, never in clear.
* The build loop: screen, prepare, split test from live sends, batch.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .base import Built, DeliveryItem, OutboundRequest, Outcome, Provider
from .common import sha256_hex

SUPPORTED_OUTCOMES = frozenset({"lead", "sale"})
ADJUSTED_OUTCOMES = frozenset({"refund", "cancellation", "reversal"})  # follow-ons undoing a sale

# Mapping-doc text for what `screen` keeps out (each adapter adds what it needs to match a conversion on).
SCREENED_OUT_DOC = (
    "refunds, cancellations and reversals `unsupported_outcome` (no negative conversions); link and card events "
    "`not_a_conversion`"
)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_NON_DIGITS = re.compile(r"\D")
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# E.164 numbers carry at most 15 digits; the shortest real ones (small countries) have 7 with the country code.
_PHONE_DIGITS = range(7, 16)

Normalizer = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class ConversionRequest(OutboundRequest):
    """An OutboundRequest that remembers how it was sent, so `classify` can tell the customer (e.g. a test send)."""

    note: str | None = None


# -- which events ----------------------------------------------------------------------------------------------


def conversion_outcome(event: Mapping[str, Any]) -> str | None:
    """`lead`, `sale`, `refund`, ... for a conversion event; None for any other event type."""
    event_type = str(event.get("type") or "")
    if not event_type.startswith("conversion."):
        return None
    conversion = event.get("conversion") or {}
    return str(conversion.get("outcome") or event_type.removeprefix("conversion."))


def is_supported_conversion(event: Mapping[str, Any]) -> bool:
    return conversion_outcome(event) in SUPPORTED_OUTCOMES


def screen(event: Mapping[str, Any], platform: str, outcomes: frozenset[str] = SUPPORTED_OUTCOMES) -> Outcome | None:
    """Why `event` is not sent to `platform` at all, or None when it is a conversion of one of `outcomes`."""
    outcome = conversion_outcome(event)
    if outcome is None:
        return Outcome.skipped("not_a_conversion", f"{platform} receives conversions only, not {event.get('type')}")
    if outcome not in outcomes:
        return Outcome.skipped(
            "unsupported_outcome",
            f"only {' and '.join(sorted(outcomes))} conversions are sent to {platform}, not '{outcome}' ones",
        )
    return None


def limited_data_use(event: Mapping[str, Any], credentials: Mapping[str, Any]) -> bool:
    """Whether the platform is asked to limit its processing of this event: always for an event not in standard
    privacy mode (a missing or unknown mode counts as strict, design §4), else as the destination's
    `limited_data_use` says. Applied after the mapping, so no override can drop it."""
    return event.get("privacy_mode") != "standard" or credentials.get("limited_data_use") is True


def standard_event(event: Mapping[str, Any], names: Mapping[str, str]) -> str | None:
    """The platform's standard event name for the event's outcome (`names`: outcome -> name)."""
    outcome = conversion_outcome(event)
    return names.get(outcome) if outcome else None


def missing_identifier(platform: str, needs: str) -> Outcome:
    return Outcome.skipped("missing_identifier", f"nothing {platform} can match the conversion on: needs {needs}")


# -- event fields ----------------------------------------------------------------------------------------------


def click_id(event: Mapping[str, Any], name: str) -> str | None:
    """An ad click id from `click_ids`, exactly as seen on the URL (click ids are case-sensitive)."""
    value = (event.get("click_ids") or {}).get(name)
    return (value.strip() or None) if isinstance(value, str) else None


def customer_contact(event: Mapping[str, Any], field: str) -> str | None:
    """`conversion.email` or `conversion.phone`: present only when the customer sent it."""
    value = (event.get("conversion") or {}).get(field)
    return value if isinstance(value, str) and value.strip() else None


def conversion_value(event: Mapping[str, Any]) -> tuple[int | float, str] | None:
    """(value, upper-case ISO-4217 currency) when the conversion carries a usable amount, else None.

    A lead's 0 means "no revenue given" (the canonical sample lead is 0), so it is left out and each platform
    applies its own default value (Google Ads would otherwise record an explicit 0); a sale of 0 is kept.
    """
    conversion = event.get("conversion") or {}
    value, currency = conversion.get("value"), conversion.get("currency")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or not isinstance(currency, str):
        return None
    if value == 0 and conversion_outcome(event) == "lead":
        return None
    return value, currency.strip().upper()


def destination_url(event: Mapping[str, Any]) -> str | None:
    """The page the tracked link led to (the closest thing to the converting page that Nimriz knows)."""
    value = (event.get("link") or {}).get("destination_url_capped")
    return value if isinstance(value, str) and value else None


# -- normalisation and hashing ---------------------------------------------------------------------------------


def normalize_email(value: str) -> str | None:
    """Trimmed and lower-cased; None unless it looks like `local@domain`."""
    email = value.strip().lower()
    local, at, domain = email.rpartition("@")
    # Stripped, it holds whitespace exactly when split() cuts it in two (split() reads whitespace as isspace() does).
    if not at or not local or "." not in domain or len(email.split()) > 1:
        return None
    return email


def normalize_google_email(value: str) -> str | None:
    """Google's rule: also drop every '.' of the local part of gmail.com / googlemail.com addresses."""
    email = normalize_email(value)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local.replace('.', '')}@{domain}" if domain in _GMAIL_DOMAINS else email


def phone_digits(value: str) -> str | None:
    """Country code and number as digits only: no '+', spaces, punctuation or leading zeros (Meta's format).

    A number without '+' or '00' is taken to start with its country code already (Nimriz cannot know the
    country of a bare national number); None when the digit count cannot be an international number.
    """
    digits = _NON_DIGITS.sub("", value).lstrip("0")  # '00' is the international prefix, '+' is not a digit
    return digits if len(digits) in _PHONE_DIGITS else None


def e164_phone(value: str) -> str | None:
    """E.164 with the leading '+' (Google Ads and TikTok hash this form)."""
    digits = phone_digits(value)
    return f"+{digits}" if digits else None


def trimmed(value: str) -> str | None:
    return value.strip() or None


def lower_trimmed(value: str) -> str | None:
    return value.strip().lower() or None


def is_sha256_hex(value: object) -> bool:
    # The length first: most values (emails, phones, names) are not 64 characters, and it costs less than the regex.
    return isinstance(value, str) and len(value) == 64 and _SHA256_HEX.fullmatch(value) is not None


def hashed(value: object, normalize: Normalizer) -> str | None:
    """SHA-256 hex of the normalised value; an existing SHA-256 hex digest passes (lower-cased); None if unusable."""
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    if is_sha256_hex(lowered := candidate.lower()):
        return lowered
    normalized = normalize(candidate)
    return sha256_hex(normalized) if normalized else None


def hashed_all(values: object, normalize: Normalizer) -> list[str]:
    """`hashed` over one value or a list of them: distinct digests in order, unusable values dropped."""
    if not isinstance(values, list):  # the usual case (an event's own field): nothing to deduplicate
        digest = hashed(values, normalize)
        return [digest] if digest else []
    digests = (hashed(item, normalize) for item in values)
    return list(dict.fromkeys(digest for digest in digests if digest))


# -- building requests -----------------------------------------------------------------------------------------

# Platform-specific preparation of one item: the payload to send, or why the item is not sent.
Prepare = Callable[[DeliveryItem], dict[str, Any] | Outcome]
# One request from prepared payloads, the positions they came from, and whether these are test sends.
BuildRequest = Callable[[list[dict[str, Any]], tuple[int, ...], bool], OutboundRequest]


def build_batches(
    items: Sequence[DeliveryItem],
    *,
    platform: str,
    prepare: Prepare,
    max_batch_size: int,
    build_request: BuildRequest,
    outcomes: frozenset[str] = SUPPORTED_OUTCOMES,
) -> Built:
    """Screen (conversions of `outcomes` only) and prepare every item, then batch test and live sends apart (test
    flags are request-wide)."""
    built = Built()
    ready: dict[bool, list[tuple[int, dict[str, Any]]]] = {False: [], True: []}
    for position, item in enumerate(items):
        result = screen(item.event, platform, outcomes) or prepare(item)
        if isinstance(result, Outcome):
            built.skipped[position] = result
        else:
            ready[item.reason == "test"].append((position, result))
    for test, entries in ready.items():
        for batch in itertools.batched(entries, max_batch_size):
            positions = tuple(position for position, _ in batch)
            built.requests.append(build_request([payload for _, payload in batch], positions, test))
    return built


class ProviderWithTestEvents(Provider):
    """Meta and TikTok: a test send carrying a `test_event_code` goes to the production endpoint but shows in the
    platform's Test Events tool instead of being counted (Meta's main-body parameters: "Code used to verify that your
    server events are received correctly by Facebook. Use this code to test your server events in the Test Events
    feature in Events Manager"; TikTok's Events API takes the same body field for its Test Events tab). That is their
    validation channel, when the destination's credentials (or the validate request) give a code."""

    no_validation_channel = (
        "has no test_event_code: nothing was sent, since without one the event would count as a live conversion. "
        'Give one in the request body ({"mode": "validate", "test_event_code": "TEST123"}) or the destination\'s '
        "credentials (test_event_code): the code the platform's Test Events tool shows"
    )

    def validation_channel(self, credentials: Mapping[str, Any]) -> str | None:
        code = credentials.get("test_event_code")
        return f"the production endpoint with test_event_code {code} (Test Events tool, not counted)" if code else None


def test_event_code(credentials: Mapping[str, Any], test: bool) -> tuple[dict[str, Any], str | None]:
    """Meta's and TikTok's test channel: the body fields of a send (`test_event_code` on a test send, when the
    destination has one) and the note its delivered outcome carries (without a code a test send goes live)."""
    if not test:
        return {}, None
    if code := credentials.get("test_event_code"):
        return {"test_event_code": code}, "test send: sent with the test_event_code, see Events Manager > Test events"
    return {}, "test send: sent as a live event because no test_event_code is configured"


# -- outcomes --------------------------------------------------------------------------------------------------


def delivered(request: OutboundRequest, message: str | None = None) -> Outcome:
    """Delivered, with how the request was sent (e.g. a test send) after `message`."""
    note = request.note if isinstance(request, ConversionRequest) else None
    return Outcome.delivered("; ".join(part for part in (message, note) if part) or None)
