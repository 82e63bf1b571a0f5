"""Domain errors. Each carries the HTTP status and the public error code it maps to.

Messages are written for customers and never contain secret values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation problem: where (a JSON path like `actions[0].name`) and why."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class DomainError(Exception):
    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, details: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(DomainError):
    status = 422
    code = "VALIDATION_FAILED"


class SearchTooBroad(DomainError):
    """A list search read its budget without filling a page (storage/shard_pages.py, design §3)."""

    status = 422
    code = "SEARCH_TOO_BROAD"


class QuotaExceeded(DomainError):
    """A save would take the workspace over one of its quotas (quotas.py); details name each quota and limit."""

    status = 422
    code = "QUOTA_EXCEEDED"


class BadRequest(DomainError):
    status = 400
    code = "BAD_REQUEST"


class InvalidCursor(BadRequest):
    code = "INVALID_CURSOR"


class PayloadTooLarge(DomainError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"


class DestinationNotFound(NotFound):
    code = "DESTINATION_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No destination with this id exists in this workspace.")


class ActionNotFound(NotFound):
    code = "ACTION_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No action with this id exists on this destination.")


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No API key with this id exists in this workspace (or it was revoked).")


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"


class NoEnabledAction(Conflict):
    code = "NO_ENABLED_ACTION"


class NothingToDeliver(Conflict):
    code = "ACTION_HAS_NO_DELIVERY"


class SigningSecretNotSupported(Conflict):
    code = "SIGNING_SECRET_NOT_SUPPORTED"

    def __init__(self, destination_type: str) -> None:
        super().__init__(f"{destination_type} destinations sign nothing: only generic_http has a signing secret.")


class ApiKeyExpired(Conflict):
    code = "API_KEY_EXPIRED"


class ApiKeyRotating(Conflict):
    """The key was already replaced by a rotation: rotating it again would hand out a second new key."""

    code = "API_KEY_ROTATING"

    def __init__(self) -> None:
        super().__init__(
            "This API key was already rotated and is in its overlap; rotate the key that replaced it, or retry the "
            "first rotation with its Idempotency-Key."
        )


class IdempotencyKeyInUse(Conflict):
    """Another request with the same Idempotency-Key is still being handled (service/idempotency.py)."""

    code = "IDEMPOTENCY_KEY_IN_USE"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still in progress; retry in a few seconds.")


class IdempotencyKeyReused(ValidationFailed):
    """The Idempotency-Key was used within 24 hours for a different request (another route, path or body)."""

    code = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used for a different request in the last 24 hours; use a new key.",
            [Problem("header.idempotency-key", "already used for a different request")],
        )


class ConcurrentModification(Conflict):
    code = "CONCURRENT_MODIFICATION"


class PreconditionFailed(DomainError):
    status = 412
    code = "PRECONDITION_FAILED"
