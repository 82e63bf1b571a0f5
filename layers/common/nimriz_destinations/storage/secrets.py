"""Destination credentials in Secrets Manager: one secret per destination, addressed by ARN + version id.

The destination item records which secret version is current, so a PUT switches credentials
atomically with the item write (a version written by a PUT that then lost its race is never read).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from .. import aws
from ..cache import TTLCache


@dataclass(frozen=True, slots=True)
class SecretRef:
    arn: str
    version_id: str


# Secrets Manager refuses a larger SecretString (moto does not enforce it, so callers check secret_size first).
MAX_SECRET_BYTES = 65_536


def secret_string(value: dict[str, Any]) -> str:
    """The stored form of a secret: compact UTF-8 JSON (a \\u escape would take 6 bytes for a 2-byte character)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def secret_size(value: dict[str, Any]) -> int:
    return len(secret_string(value).encode())


# A secret version's value never changes, so entries only age out to bound memory and drop deleted secrets.
_values: TTLCache[dict[str, Any]] = TTLCache(max_entries=512, ttl_seconds=3600)


class SecretStore:
    def create(self, name: str, value: dict[str, Any], *, tags: dict[str, str], overwrite: bool = False) -> SecretRef:
        """A new secret; with `overwrite`, a secret of that name already there gets `value` as its new version."""
        client = aws.secretsmanager()
        try:
            response = client.create_secret(
                Name=name,
                SecretString=secret_string(value),
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except client.exceptions.ResourceExistsException:
            if not overwrite:
                raise
            return self.put(name, value)
        return SecretRef(arn=response["ARN"], version_id=response["VersionId"])

    def put(self, arn_or_name: str, value: dict[str, Any]) -> SecretRef:
        response = aws.secretsmanager().put_secret_value(SecretId=arn_or_name, SecretString=secret_string(value))
        return SecretRef(arn=response["ARN"], version_id=response["VersionId"])

    def read(self, ref: SecretRef) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            response = aws.secretsmanager().get_secret_value(SecretId=ref.arn, VersionId=ref.version_id)
            value: dict[str, Any] = json.loads(response["SecretString"])
            return value

        return _values.get_or_load((ref.arn, ref.version_id), load)

    def forget(self, ref: SecretRef) -> dict[str, Any] | None:
        """Drop a cached secret value (its destination was deleted); returns it when it was cached."""
        return _values.invalidate((ref.arn, ref.version_id))

    def delete(self, arn: str) -> None:
        client = aws.secretsmanager()
        # Already gone is fine: deleting is idempotent.
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def clear_cache() -> None:
    _values.clear()
