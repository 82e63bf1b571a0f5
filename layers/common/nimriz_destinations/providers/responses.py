"""Reading and describing provider responses: the one place every adapter's `classify` takes these from.

* `read_json` / `parse_json` / `json_object`: a body (a response's, or a request's own) as JSON, read by the one
  bounded parser (`safe_json`, the request bodies' own): an answer nested past any parser's stack, with numbers
  no int or float should hold, NaN, or invalid UTF-8 is not JSON we read. Reading never raises: anything else
  (providers answer plain text or HTML on some errors) reads as nothing.
* `typed` / `typed_entries` / `error_code`: the fields of what was read, each only when it has the
  type the adapter expects, so no shape of answer can make an adapter raise; a provider's error code only when
  it is fit to name an error class.
* `invalid_response`: the outcome of an answer that had to be read to decide and could not be understood.
* `provider_message` / `error_excerpt`: what a provider said, fit for an outcome: every secret of the request
  redacted before the text is capped (a provider echoing what we sent must not put a key into records).
* `status_outcome` / `status_line_outcome` / `too_large_outcomes`: outcomes the status code decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import safe_json
from ..redaction import redact_secrets, redacted_excerpt, response_text
from .base import OutboundRequest, Outcome, ProviderResponse, Verdict, classify_status, retry_after_seconds

MAX_MESSAGE_CHARS = 300  # provider text kept in an outcome
INVALID_RESPONSE = "invalid_response"  # the error class of an answer that could not be understood

# What a provider's error code may be to name an error class: short, and nothing a class could not hold.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_]{1,64}")
_KIND_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


@dataclass(frozen=True, slots=True)
class JsonBody:
    """A body read as JSON: `value` (None when the body is empty or could not be read), or why it could not be."""

    value: Any = None
    problem: str | None = None  # safe to show: it never quotes the body

    def problem_with(self, key: str, kind: type) -> str | None:
        """Why this is not the JSON object an answer is documented as, with `key` (when there: null is not) a
        `kind`; None when it is one, or the body is empty."""
        if self.problem is not None or self.value is None:
            return self.problem
        if not isinstance(self.value, dict):
            return "not a JSON object"
        value = self.value.get(key)
        if value is not None and not _is(value, kind):
            return f"{key} is not {_KIND_NAMES.get(kind, kind.__name__)}"
        return None


def read_json(raw: bytes) -> JsonBody:
    """`raw` parsed under `safe_json`'s limits, which fit answers too (the deepest any provider documents, a Google
    Ads partial failure, nests 9 levels); an empty body is no answer, not an unreadable one."""
    if not raw.strip():
        return JsonBody()
    try:
        return JsonBody(safe_json.loads(raw))
    except safe_json.InvalidJson as exc:
        return JsonBody(problem=exc.reason)


def parse_json(raw: bytes) -> Any:
    """Parsed JSON, or None when `raw` is empty or not JSON we read."""
    return read_json(raw).value


def json_object(raw: bytes) -> dict[str, Any]:
    """Parsed JSON when it is an object, else an empty one."""
    value = parse_json(raw)
    return value if isinstance(value, dict) else {}


def typed[T](container: object, key: str, kind: type[T]) -> T | None:
    """`container[key]` when `container` is a JSON object and the value is a `kind` (a bool is no number), else
    None."""
    value = container.get(key) if isinstance(container, dict) else None
    return value if _is(value, kind) else None


def typed_entries[T](container: object, key: str, kind: type[T]) -> list[T]:
    """The entries that are a `kind` of the list at `container[key]`; none when it is not a list."""
    return [entry for entry in typed(container, key, list) or [] if _is(entry, kind)]


def error_code(value: object, request: OutboundRequest) -> str | None:
    """A provider's error code fit to name an error class: a non-negative integer, or at most 64 letters, digits and
    underscores (`CLICK_NOT_FOUND`, `INVALID_ARGUMENT`) in which no secret of the request stands; None for anything
    else, which the caller replaces by a fixed class (what the provider said goes to the message, redacted)."""
    text = str(value) if _is(value, int) else value
    if isinstance(text, str) and _ERROR_CODE.fullmatch(text) and redact_secrets(text, request.secrets) == text:
        return text
    return None


def _is(value: object, kind: type) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def invalid_response(platform: str, response: ProviderResponse, problem: str) -> Outcome:
    """An answer that could not be understood (design §8.1): retried after 408, 429 and 5xx, permanent after any
    other status. After a 2xx the provider has the request, so it is not sent again on its own."""
    cut = " (the answer was cut at the read limit)" if response.truncated else ""
    message = f"{platform} answered {response.status} with an answer that could not be read: {problem}{cut}"
    status = response.status
    if status in (408, 429) or status >= 500:
        return Outcome.retry(INVALID_RESPONSE, message, retry_after_seconds(response))
    if 200 <= status < 300:
        message += "; the request is not sent again (replaying the dead letter sends it again)"
    return Outcome.permanent(INVALID_RESPONSE, message)


def provider_message(text: object, request: OutboundRequest) -> str | None:
    """A provider's error text for an outcome: secrets of the request redacted, length capped; None when empty."""
    if not isinstance(text, str) or not text:
        return None
    return redacted_excerpt(text, request.secrets, MAX_MESSAGE_CHARS)


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
    """413: one event over the limit can never be sent; a batch over it is refused together (design §8.1): resent at
    once in halves, so only an event over the limit by itself fails."""
    if len(request.items) == 1:
        return {request.items[0]: Outcome.permanent("http_413", f"the event is larger than {limit}")}
    refusal = Outcome.permanent("http_413", f"the batch was larger than {limit}")
    return dict.fromkeys(request.items, refusal.refused_together())
