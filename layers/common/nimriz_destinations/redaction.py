"""Credential redaction for every response: secret values become a short hint, never more than 4 characters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_HINT_MIN_LENGTH = 12  # shorter secrets show no characters at all


def hint(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) >= _HINT_MIN_LENGTH else "…"


def redact_credentials(credentials: dict[str, Any], secret_fields: frozenset[str]) -> dict[str, Any]:
    redacted: dict[str, Any] = {}
    for name, value in credentials.items():
        if name not in secret_fields or value is None:
            redacted[name] = value
        elif isinstance(value, dict):
            redacted[name] = {key: hint(str(item)) for key, item in value.items()}
        else:
            redacted[name] = hint(str(value))
    return redacted


REDACTED = "[redacted]"


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value (raw and URL-encoded) replaced, longest first so no fragment survives."""
    from urllib.parse import quote, quote_plus

    variants = {form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))}
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, REDACTED)
    return text
