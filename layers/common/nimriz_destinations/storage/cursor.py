"""Opaque pagination cursors: the LastEvaluatedKey, checked on the way back in so a cursor can only ever
continue the same partition and item kind it came from."""

from __future__ import annotations

import base64
import json
from typing import Any

from .. import safe_json
from ..errors import InvalidCursor


def encode_cursor(last_key: dict[str, Any]) -> str:
    raw = json.dumps({"pk": last_key["PK"]["S"], "sk": last_key["SK"]["S"]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, expected_pk: str, sk_prefix: str) -> dict[str, Any]:
    try:
        decoded = safe_json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        pk, sk = decoded["pk"], decoded["sk"]
    # ValueError covers bad base64 (binascii.Error), non-ASCII cursors and safe_json.InvalidJson.
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("The cursor is not valid; use next_cursor from a previous page.") from exc
    if pk != expected_pk or not isinstance(sk, str) or not sk.startswith(sk_prefix):
        raise InvalidCursor("The cursor is not valid; use next_cursor from a previous page.")
    return {"PK": {"S": pk}, "SK": {"S": sk}}
