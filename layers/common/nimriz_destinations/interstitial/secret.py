"""The HMAC key that signs page tokens.

In AWS it is a per-stage Secrets Manager secret, read through a cache: every warm function reuses it and a
rotated key is picked up within `cache_seconds` (tokens signed just before a rotation then fail verification,
and the visitor sees the error page; tokens live minutes, so rotate at a quiet time). On the local stack
without a secret ARN the key is NIMRIZ_INTERSTITIAL_SECRET, or a random key per process (the local stack
serves resolve and page from one process). Any other stage without an ARN refuses to sign or verify.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from .. import aws
from ..cache import TTLCache
from ..settings import Settings


class TokenSecretUnavailable(RuntimeError):
    pass


class TokenSecret:
    def __init__(
        self, settings: Settings, *, cache_seconds: float = 300, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._secret_arn = settings.interstitial_token_secret_arn
        self._local_key = _local_key(settings)
        self._cache: TTLCache[bytes] = TTLCache(max_entries=1, ttl_seconds=cache_seconds, clock=clock)

    def get(self) -> bytes:
        return self._cache.get_or_load("key", self._load)

    def _load(self) -> bytes:
        if self._secret_arn:
            response = aws.secretsmanager().get_secret_value(SecretId=self._secret_arn)
            return response["SecretString"].encode()
        if not self._local_key:
            raise TokenSecretUnavailable("INTERSTITIAL_TOKEN_SECRET_ARN is not set")
        return self._local_key


def _local_key(settings: Settings) -> bytes:
    """The local stack's key, fixed for the life of the process; empty in every other stage."""
    if not settings.is_local:
        return b""
    return (settings.interstitial_local_secret or secrets.token_urlsafe(32)).encode()
