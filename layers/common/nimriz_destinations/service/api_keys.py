"""Workspace API keys for the admin API: create, list, revoke, rotate.

A secret is `nmz_` and 32 random bytes (URL-safe base64); it is returned once, when made, and stored only as its
SHA-256. Keys carry scopes (`scopes.py`) and may expire; rotating a key makes a new one with the same label,
scopes and expiry, and lets the old one work for `overlap_seconds` more.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..audit import Actor, Change, Target
from ..clock import iso_utc
from ..errors import ApiKeyExpired, ApiKeyNotFound, Problem, ValidationFailed
from ..scopes import canonical_scopes
from ..storage.api_keys import ApiKeyRecord, ApiKeyStore, hash_api_key
from ..storage.records import Workspace
from .audit import AuditLog

SECRET_PREFIX = "nmz_"
SECRET_RANDOM_BYTES = 32
# `nmz_` and 4 characters of the random part (24 bits): enough to tell keys apart, far too few to guess one.
RECOGNISABLE_PREFIX_LENGTH = len(SECRET_PREFIX) + 4


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_RANDOM_BYTES)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made, with its secret: the only moment the secret exists outside the caller's hands."""

    key: ApiKeyRecord
    secret: str


class ApiKeyService:
    """Every create, revoke and rotate is audited (`AuditLog.recorded`: no change without its entry)."""

    def __init__(self, store: ApiKeyStore, audit: AuditLog) -> None:
        self._store = store
        self._audit = audit

    def create(
        self, workspace: Workspace, actor: Actor, *, label: str, scopes: Sequence[str], expires_at: datetime | None
    ) -> IssuedKey:
        now = datetime.now(UTC)
        if expires_at is not None and expires_at <= now:
            raise ValidationFailed("The request has invalid fields.", [Problem("expires_at", "must be in the future")])
        expiry = iso_utc(expires_at) if expires_at is not None else None
        issued = _new_key(workspace, label=label, scopes=scopes, expires_at=expiry, now=now)
        changes = [Change(name, None, value) for name, value in _described(issued.key).items()]
        with self._audit.recorded(workspace.workspace_id, actor, "api_key.created", _target(issued.key), changes):
            self._store.create(issued.key)
        return issued

    def import_key(self, workspace: Workspace, secret: str, *, label: str, scopes: Sequence[str]) -> ApiKeyRecord:
        """Store a key whose secret the caller chose (the local stack's dev keys): never used by the API."""
        key = _record(workspace, secret, label=label, scopes=scopes, expires_at=None, created_at=self._now())
        self._store.create(key)
        return key

    def list_keys(self, workspace_id: str) -> list[ApiKeyRecord]:
        return self._store.list_keys(workspace_id)

    def revoke(self, workspace_id: str, key_id: str, actor: Actor) -> ApiKeyRecord:
        key = self._live_key(workspace_id, key_id)
        revoked_at = self._now()
        with self._audit.recorded(
            workspace_id, actor, "api_key.revoked", _target(key), [Change("revoked_at", None, revoked_at)]
        ):
            if not self._store.revoke(key, revoked_at=revoked_at):
                raise ApiKeyNotFound()
        return key

    def rotate(self, workspace_id: str, key_id: str, actor: Actor, *, overlap_seconds: int) -> IssuedKey:
        """A new key like the old one; the old one works for `overlap_seconds` more (never past its own expiry)."""
        old = self._live_key(workspace_id, key_id)
        now = datetime.now(UTC)
        if old.expires_at is not None and old.expires_at <= iso_utc(now):
            raise ApiKeyExpired("This API key has expired and cannot be rotated; create a new key.")
        old_expires_at = iso_utc(now + timedelta(seconds=overlap_seconds))
        if old.expires_at is not None:
            old_expires_at = min(old_expires_at, old.expires_at)
        workspace = Workspace(workspace_id=workspace_id, organization_id=old.organization_id)
        issued = _new_key(workspace, label=old.label, scopes=old.scopes, expires_at=old.expires_at, now=now)
        changes = [Change("expires_at", old.expires_at, old_expires_at), Change("replaced_by", None, issued.key.id)]
        with self._audit.recorded(workspace_id, actor, "api_key.rotated", _target(old), changes):
            self._store.rotate(old, old_expires_at=old_expires_at, new=issued.key)
        return issued

    def _live_key(self, workspace_id: str, key_id: str) -> ApiKeyRecord:
        key = self._store.get(workspace_id, key_id.lower())
        if key is None:
            raise ApiKeyNotFound()
        return key

    def _now(self) -> str:
        return iso_utc(datetime.now(UTC))


def _target(key: ApiKeyRecord) -> Target:
    return Target("api_key", key.id)


def _described(key: ApiKeyRecord) -> dict[str, object]:
    """What the audit log says about a new key: never its secret or hash, only what a list shows."""
    return {"label": key.label, "scopes": list(key.scopes), "prefix": key.prefix, "expires_at": key.expires_at}


def _new_key(
    workspace: Workspace, *, label: str, scopes: Sequence[str], expires_at: str | None, now: datetime
) -> IssuedKey:
    secret = new_secret()
    key = _record(workspace, secret, label=label, scopes=scopes, expires_at=expires_at, created_at=iso_utc(now))
    return IssuedKey(key=key, secret=secret)


def _record(
    workspace: Workspace, secret: str, *, label: str, scopes: Sequence[str], expires_at: str | None, created_at: str
) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=str(uuid.uuid4()),
        workspace_id=workspace.workspace_id,
        organization_id=workspace.organization_id,
        label=label,
        scopes=tuple(canonical_scopes(scopes)),
        prefix=secret[:RECOGNISABLE_PREFIX_LENGTH],
        key_hash=hash_api_key(secret),
        created_at=created_at,
        expires_at=expires_at,
    )
