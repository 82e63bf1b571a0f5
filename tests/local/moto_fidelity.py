"""Corrections where moto departs from AWS in a way the service relies on (applied by `create_stack`).

UpdateItem: DynamoDB holds the item as it will be *after* the update to the 400 KB limit. moto checks each
attribute as it is set against the item's current size, so replacing a 240 KB `doc` counts the old value and
the new one (480 KB) and fails an update DynamoDB accepts. Here an attribute being replaced is taken out of the
count first, and put back if the new value is refused.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import LimitedSizeDict

_ABSENT = object()
_moto_setitem = LimitedSizeDict.__setitem__


def _set_counting_the_result(self: LimitedSizeDict, key: str, value: Any) -> None:
    previous = dict.pop(self, key, _ABSENT)
    try:
        _moto_setitem(self, key, value)
    except ItemSizeTooLarge:
        if previous is not _ABSENT:
            dict.__setitem__(self, key, previous)
        raise


def apply() -> None:
    LimitedSizeDict.__setitem__ = _set_counting_the_result  # type: ignore[method-assign]
