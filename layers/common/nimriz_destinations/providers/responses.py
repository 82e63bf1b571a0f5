"""Reading and describing provider responses: the one place every adapter's `classify` takes these from.

* `parse_json` / `json_object`: a body (a response's, or a request's own) as JSON, tolerating anything else
  (providers answer plain text or HTML on some errors).
* `provider_message` / `error_excerpt`: what a provider said, fit for an outcome: every secret of the request
  redacted before the text is capped (a provider echoing what we sent must not put a key into records).
  `provider_code`: a provider's error code, only when it is fit to name an error class.
* `status_outcome` / `status_line_outcome` / `too_large_outcomes`: outcomes the status code decides.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..redaction import redact_secrets, redacted_excerpt, response_text
from .base import OutboundRequest, Outcome, ProviderResponse, Verdict, classify_status

MAX_MESSAGE_CHARS = 300  # provider text kept in an outcome
_PROVIDER_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def parse_json(raw: bytes) -> Any:
    """Parsed JSON, or None when `raw` is empty or not JSON."""
    try:
        return json.loads(raw)
    except ValueError:  # UnicodeDecodeError included
        return None


def json_object(raw: bytes) -> dict[str, Any]:
    """Parsed JSON when it is an object, else an empty one."""
    value = parse_json(raw)
    return value if isinstance(value, dict) else {}


def provider_message(text: object, request: OutboundRequest) -> str | None:
    """A provider's error text for an outcome: secrets of the request redacted, length capped; None when empty."""
    if not isinstance(text, str) or not text:
        return None
    return redacted_excerpt(text, request.secrets, MAX_MESSAGE_CHARS)


def provider_code(value: object, request: OutboundRequest) -> str | None:
    """A provider's error code fit to name an error class: an upper-case constant such as Google Ads, google.rpc and
    LinkedIn document (`CLICK_NOT_FOUND`, `INVALID_ARGUMENT`) in which no secret of the request stands; None for
    anything else, which the caller replaces by a fixed class (what the provider said goes to the message, redacted)."""
    if isinstance(value, str) and _PROVIDER_CODE.fullmatch(value) and redact_secrets(value, request.secrets) == value:
        return value
    return None


def error_excerpt(request: OutboundRequest, response: ProviderResponse, text: str | None = None) -> str:
    """`answered <status>: <text>`, `text` being the body unless given, capped, with every secret of the request
    redacted (a secret cut by the cap or by the read limit loses its beginning too)."""
    if text is None:
        text = response_text(response.body, cut=response.truncated)
    excerpt = redacted_excerpt(text, request.secrets, MAX_MESSAGE_CHARS, cut=response.truncated).strip()
    return f"answered {response.status}: {excerpt or 'no response body'}"


def status_outcome(platform: str, request: OutboundRequest, response: ProviderResponse) -> Outcome:
    """The outcome when the status code is all there is to read: `classify_status`, a permanent failure carrying
    what the provider said."""
    outcome = classify_status(response)
    if outcome.verdict is Verdict.PERMANENT:
        return Outcome.permanent(outcome.error_class or "http_error", f"{platform} {error_excerpt(request, response)}")
    return outcome


def status_line_outcome(platform: str, response: ProviderResponse) -> Outcome | None:
    """What the status code decides before the body is read: 401 (the dispatcher refreshes an OAuth token once),
    408, 429, 5xx; None when the body says more (2xx and the other statuses)."""
    if response.status == 401:
        return Outcome.permanent("unauthorized", f"{platform} rejected the credentials (HTTP 401)")
    if response.status in (408, 429) or response.status >= 500:
        return classify_status(response)
    return None


def too_large_outcomes(request: OutboundRequest, limit: str) -> dict[int, Outcome]:
    """413: one event over the limit can never be sent; a batch over it is retried (regrouped on the next try)."""
    if len(request.items) == 1:
        return {request.items[0]: Outcome.permanent("http_413", f"the event is larger than {limit}")}
    return dict.fromkeys(request.items, Outcome.retry("http_413", f"the batch was larger than {limit}"))
