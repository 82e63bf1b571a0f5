"""The audit trail's vocabulary: who made a configuration change, to what, and a redacted diff of it.

A diff never holds a secret. Destinations are compared through `destination_snapshot`, where secret credential
fields appear only as their stored hints (at most the last 4 characters, see redaction.py). A secret replaced by
another one with the same hint would not show in such a diff, so the caller compares the secret values in memory
(`changed_secret_paths`) and those paths are recorded as changed, still with hints only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .storage.records import DestinationRecord

ActorType = Literal["api_key", "admin", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str


# Changes nobody asked for through the API (e.g. auto-disable).
SYSTEM = Actor(type="system", id="system")


ADMIN_ID_PREFIX = "adm_"


def admin_actor(caller_arn: str, *, key: str) -> Actor:
    """The Nimriz platform's backend calling the admin API, as an opaque id stable per AWS principal.

    The ARN names the account, the role and often a person (an SSO session name): tenants read their audit log,
    so it is shown as a keyed hash of the ARN (`key`: per deployment, unknown to tenants, so the id cannot be
    confirmed by hashing guessed ARNs). Operators find the ARN beside the id in the admin API's logs.
    """
    digest = hmac.new(key.encode(), caller_arn.encode(), hashlib.sha256).hexdigest()
    return Actor(type="admin", id=ADMIN_ID_PREFIX + digest[:24])


def api_key_actor(api_key_id: str | None) -> Actor:
    """The API key that made a change; `unknown` when the request did not say which key it was."""
    return Actor(type="api_key", id=api_key_id or "unknown")


@dataclass(frozen=True, slots=True)
class Target:
    type: str
    id: str


def destination_target(record: DestinationRecord) -> Target:
    return Target(type="destination", id=record.id)


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    before: Any
    after: Any


# What one entry may hold, so an entry always fits its DynamoDB item (400 KB) however large the configuration.
MAX_VALUE_CHARS = 2048  # one before/after value, as JSON; a larger one is recorded as its size only
MAX_CHANGES_CHARS = 256 * 1024  # all changes, as JSON; further ones are counted in one last change


def destination_snapshot(record: DestinationRecord) -> dict[str, Any]:
    """What an audit diff compares for a destination: its configuration, credentials as hints only, actions by id."""
    return {
        "name": record.name,
        "type": record.type,
        "enabled": record.enabled,
        "delivery_rate": record.delivery_rate,
        "credentials": record.credential_hints,
        "actions": {action.id: action.configuration() for action in record.actions},
    }


def state_changes(kind: str, ids: Iterable[str], before: str, after: str) -> list[Change]:
    """One change per item an action moved from one state to another (`dead_letters[<id>]`: `dead_lettered` to
    `replayed`), bounded in size like a diff."""
    return _bounded([Change(f"{kind}[{item_id}]", before, after) for item_id in ids])


def changed_secret_paths(before: Mapping[str, Any], after: Mapping[str, Any], secret_fields: Iterable[str]) -> set[str]:
    """Paths (as in a snapshot's `credentials`) of the secret values that differ between two sets of credentials.

    The values are compared here and go no further: only the paths leave.
    """
    changed: set[str] = set()
    for name in secret_fields:
        old, new = before.get(name), after.get(name)
        if isinstance(old, dict) or isinstance(new, dict):
            old_map, new_map = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
            for key in old_map.keys() | new_map.keys():
                if old_map.get(key) != new_map.get(key):
                    changed.add(f"credentials.{name}.{key}")
        elif old != new:
            changed.add(f"credentials.{name}")
    return changed


def diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, changed_secrets: Iterable[str] = ()
) -> list[Change]:
    """Every leaf path whose value differs (a missing side is null), in path order, bounded in size.

    `changed_secrets` are paths recorded as changed even when their (hinted) values look the same.
    """
    old, new = _leaves(before or {}), _leaves(after or {})
    forced = set(changed_secrets)
    changes = [
        Change(path, old.get(path), new.get(path))
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path) or path in forced
    ]
    return _bounded(changes)


def _leaves(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested objects to `a.b.c` paths; lists and empty objects are values. Actions are keyed by id:
    `actions[<id>].name`."""
    found: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}[{key}]" if prefix == "actions" else f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict) and item:
            found.update(_leaves(item, path))
        else:
            found[path] = item
    return found


def _bounded(changes: list[Change]) -> list[Change]:
    kept: list[Change] = []
    used = 0
    for index, change in enumerate(changes):
        change = Change(change.path, _bounded_value(change.before), _bounded_value(change.after))
        used += len(json.dumps([change.path, change.before, change.after], ensure_ascii=False))
        if used > MAX_CHANGES_CHARS:
            left = len(changes) - index
            kept.append(Change("…", None, f"{left} more changed paths, not recorded"))
            break
        kept.append(change)
    return kept


def _bounded_value(value: Any) -> Any:
    size = len(json.dumps(value, ensure_ascii=False))
    return value if size <= MAX_VALUE_CHARS else f"[not recorded: {size} characters]"
