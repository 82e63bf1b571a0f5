"""`Idempotency-Key` on the workspace API's POST routes (design §9.7): the one helper each such route answers through.

A route hands its work to `answer_once` as a function of the request's nonce (None without a key: nothing is
recorded, nothing more is read or written). With a key, the work runs through the general mechanism
(service/idempotency.py), once per workspace and key, and what is recorded is the route's HTTP answer: its status,
the headers it set (`ETag`, `Location`) and its body as serialized. A retry with the same key and the same request
gets that answer again with `Idempotent-Replayed: true`. The same request is the same route (method and resource),
the same path ids and the same body as parsed (JSON: key order and spacing aside); the same key on another route is
another request (422 `IDEMPOTENCY_KEY_REUSED`).

A secret the answer shows once (`ShownOnce`: a generated webhook signing secret) is never recorded: the work derives
it from the nonce, the record holds its SHA-256 in its place, and a replay derives it again.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from .app import JSON, DestinationsApiResolver, current_workspace

if TYPE_CHECKING:
    from ..service.idempotency import IdempotentRequests

# Printable ASCII, 1 to 255 characters (the header's documented form: README, "Retrying safely: Idempotency-Key").
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,255}$"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1-255 printable ASCII characters: a retry with the same key and body within 24 hours gets the "
        "first answer again (Idempotent-Replayed: true) and nothing is done again; keys are per workspace.",
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"
_DIGEST_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class ShownOnce:
    """Secrets an answer shows once, all derived from the request's nonce."""

    at: tuple[
        str, ...
    ]  # the keys leading to the object that holds them in the body, e.g. ("destination", "credentials")
    derive: Callable[[bytes], dict[str, str]]  # nonce -> the secrets the work put there, by name (none: {})


def answer_once(
    app: DestinationsApiResolver,
    idempotent: IdempotentRequests,
    idempotency_key: str | None,
    work: Callable[[bytes | None], Response[Any]],
    *,
    shown_once: ShownOnce | None = None,
) -> Response[Any]:
    """The route's answer: `work(nonce)`'s, or the first answer to this workspace's `idempotency_key`."""
    if idempotency_key is None:
        return work(None)
    from ..service.idempotency import IdempotentOperation  # a service: loaded at first use (cold start)

    event = app.current_event
    operation = IdempotentOperation(
        name=f"{event.http_method} {event.resource}",
        # Path ids are compared as the routes use them: lower-case (api/app.py ResourceId).
        request={
            "path": {name: value.lower() for name, value in (event.path_parameters or {}).items()},
            "body": app.request_body(),
        },
        perform=lambda nonce: _Answered(work(nonce), nonce),
        recorded=lambda answered: _recorded(answered, shown_once),
        replayed=lambda record, nonce: _replayed(record, nonce, shown_once),
    )
    outcome = idempotent.run(current_workspace(app).workspace_id, idempotency_key, operation)
    return outcome.result.response


@dataclass(frozen=True, slots=True)
class _Answered:
    response: Response[Any]
    nonce: bytes


def _recorded(answered: _Answered, shown_once: ShownOnce | None) -> dict[str, Any]:
    response = answered.response
    body = (
        response.body.model_dump(mode="json", by_alias=True) if isinstance(response.body, BaseModel) else response.body
    )
    for holder, name, secret in _shown(shown_once, body, answered.nonce):
        if holder.get(name) != secret:  # never record a secret that could not be derived again
            raise RuntimeError(f"the answer shows a {name} its nonce does not derive")
        holder[name] = _digest(secret)
    return {"status": response.status_code, "headers": response.headers, "body": body}


def _replayed(record: dict[str, Any], nonce: bytes, shown_once: ShownOnce | None) -> _Answered:
    body = copy.deepcopy(record["body"])
    for holder, name, secret in _shown(shown_once, body, nonce):
        if holder.get(name) != _digest(secret):
            # Only if the stack's idempotency key changed within the 24 hours: never hand out a wrong secret.
            raise RuntimeError(f"the replayed {name} does not match the first answer's")
        holder[name] = secret
    headers = {**record["headers"], REPLAYED_HEADER: "true"}
    return _Answered(Response(status_code=record["status"], content_type=JSON, body=body, headers=headers), nonce)


def _shown(shown_once: ShownOnce | None, body: Any, nonce: bytes) -> list[tuple[dict[str, Any], str, str]]:
    """(the object holding it in `body`, its name, its value) for each secret the answer shows once."""
    secrets = {} if shown_once is None else shown_once.derive(nonce)
    if not secrets:
        return []
    assert shown_once is not None
    holder = body
    for key in shown_once.at:
        holder = holder[key]
    return [(holder, name, secret) for name, secret in secrets.items()]


def _digest(secret: str) -> str:
    return _DIGEST_PREFIX + hashlib.sha256(secret.encode()).hexdigest()
