"""Opaque pagination cursors: the LastEvaluatedKey, checked on the way back in so a cursor can only ever
continue the same partition and item kind it came from.

Lists page through items keyed `<prefix><id>`: a cursor's sort key must be one of those, so what goes back to
DynamoDB as ExclusiveStartKey is always a key of the list's own shape, never one past DynamoDB's key limits.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .. import aws, safe_json
from ..errors import InvalidCursor
from ..ids import is_id

INVALID_CURSOR_MESSAGE = "The cursor is not valid; use next_cursor from a previous page."


def encode_cursor(last_key: dict[str, Any]) -> str:
    return encode_fields({"pk": last_key["PK"]["S"], "sk": last_key["SK"]["S"]})


def encode_fields(fields: dict[str, str]) -> str:
    """A cursor holding `fields` (the text of a key's attributes), for keys of more than PK and SK."""
    raw = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_fields(cursor: str, names: tuple[str, ...]) -> dict[str, str]:
    """The text fields `names` of a cursor made by `encode_fields` or `encode_cursor` (InvalidCursor otherwise);
    the caller checks each is of its key's shape."""
    try:
        decoded = safe_json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        fields = {name: decoded[name] for name in names}
    # ValueError covers bad base64 (binascii.Error), non-ASCII cursors and safe_json.InvalidJson.
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor(INVALID_CURSOR_MESSAGE) from exc
    if not all(isinstance(value, str) for value in fields.values()):
        raise InvalidCursor(INVALID_CURSOR_MESSAGE)
    return fields


def decode_cursor(cursor: str, *, expected_pk: str, sk_prefix: str) -> dict[str, Any]:
    fields = decode_fields(cursor, ("pk", "sk"))
    pk, sk = fields["pk"], fields["sk"]
    if pk != expected_pk or not sk.startswith(sk_prefix) or not is_id(sk[len(sk_prefix) :]):
        raise InvalidCursor(INVALID_CURSOR_MESSAGE)
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def query_page(
    table: str,
    pk: str,
    sk_prefix: str,
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = True,
    filter_expression: str = "",
    names: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page (one Query) of a partition's items under `sk_prefix`, newest (highest sort key) first unless
    `newest_first` is False, optionally filtered, with the next cursor (None on the last page)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}, **(values or {})},
        "Limit": limit,
        "ScanIndexForward": not newest_first,
    }
    if filter_expression:
        request["FilterExpression"] = filter_expression
    if names:
        request["ExpressionAttributeNames"] = names
    if cursor:
        request["ExclusiveStartKey"] = decode_cursor(cursor, expected_pk=pk, sk_prefix=sk_prefix)
    response = aws.dynamodb().query(**request)
    last = response.get("LastEvaluatedKey")
    return response.get("Items", []), encode_cursor(last) if last else None
