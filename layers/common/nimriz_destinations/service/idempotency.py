"""Requests a client may retry with an `Idempotency-Key` header and get the first answer again (design §9.7).

An operation says what makes two requests the same (`request`: the route's path ids and its body), does its work
from a nonce (`perform`: anything random it makes, ids and secrets, it derives from the nonce with `derive`), says
what of its result to record (`recorded`: never a secret) and rebuilds the result from that record and the nonce
(`replayed`). So an answer holding a secret is replayed without the secret ever being stored: it is derived again,
HMAC-SHA256 of the nonce under a per-stack key that only the functions can read.

The first request with a key claims it (`storage/idempotency.py`), does the work and records its answer; a retry
within 24 hours gets that answer again, a request with the same key but another route, path or body 422
`IDEMPOTENCY_KEY_REUSED`, one while the first is still at work 409 `IDEMPOTENCY_KEY_IN_USE`. Work that fails
records nothing (the claim is released), so a retry does it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import IdempotencyKeyInUse, IdempotencyKeyReused
from ..observability import logger
from ..storage.idempotency import NONCE_BYTES, Claimed, IdempotencyStore

# How long the request that claimed a key holds it before a retry may take the work over: longer than any API
# function may run (template.yaml Globals Timeout, 10 s), so a request still at work is never taken over.
LEASE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class IdempotentOperation[Result]:
    name: str  # the operation, e.g. "api_key.rotate": the same key on another route is another request
    request: Mapping[str, Any]  # what the caller asked: path ids and body, as JSON values
    perform: Callable[[bytes], Result]
    recorded: Callable[[Result], dict[str, Any]]
    replayed: Callable[[dict[str, Any], bytes], Result]


@dataclass(frozen=True, slots=True)
class Outcome[Result]:
    result: Result
    replayed: bool  # True when this is a retry's answer, rebuilt from the first request's record


class IdempotentRequests:
    def __init__(self, store: IdempotencyStore, stack_key: Callable[[], bytes]) -> None:
        self._store = store
        self._stack_key = stack_key  # read when first needed (runtime.py caches it for the environment)

    def derive(self, nonce: bytes, purpose: str) -> bytes:
        """32 bytes only this stack can compute from `nonce`, different for each `purpose`."""
        return hmac.new(self._stack_key(), f"{purpose}\n".encode() + nonce, hashlib.sha256).digest()

    def run[Result](
        self, workspace_id: str, idempotency_key: str | None, operation: IdempotentOperation[Result]
    ) -> Outcome[Result]:
        if idempotency_key is None:
            return Outcome(operation.perform(secrets.token_bytes(NONCE_BYTES)), replayed=False)
        claim = self._store.claim(
            workspace_id, idempotency_key, fingerprint(operation.name, operation.request), lease_seconds=LEASE_SECONDS
        )
        if not isinstance(claim, Claimed):
            record = claim.record
            if record.fingerprint != fingerprint(operation.name, operation.request):
                raise IdempotencyKeyReused()
            if record.answer is None:
                raise IdempotencyKeyInUse()
            return Outcome(operation.replayed(record.answer, record.nonce), replayed=True)
        try:
            result = operation.perform(claim.nonce)
        except BaseException:
            self._store.release(workspace_id, idempotency_key, claim.nonce)
            raise
        try:
            self._store.complete(workspace_id, idempotency_key, claim.nonce, operation.recorded(result))
        except Exception:
            # The work is done and this answer is right: give it. A retry takes the claim over once its lease ends
            # and does the work again with the same nonce, which the operation recognises as done.
            logger.exception("could not record an idempotent answer", extra={"operation": operation.name})
        return Outcome(result, replayed=False)


def fingerprint(name: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps({"operation": name, "request": request}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
