"""Validation of canonical event v1 messages against the shipped JSON Schema (design §4).

fastjsonschema generates and compiles Python code for the schema: it is imported and compiled on first use
only (about 30 ms of imports), so functions that never validate pay nothing at cold start.
"""

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastjsonschema import JsonSchemaValueException

SCHEMA_PATH = Path(__file__).parent / "schemas" / "canonical_event_v1.json"


@functools.cache
def _compiled_validator() -> Callable[[Any], Any]:
    import fastjsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator: Callable[[Any], Any] = fastjsonschema.compile(schema)
    return validator


def validate_canonical_event(data: Any) -> list[str]:
    """Problems with `data` as a canonical event v1, as "path: reason" lines; empty when it is valid.

    fastjsonschema stops at the first failure, so an invalid event yields exactly one problem.
    """
    from fastjsonschema import JsonSchemaValueException

    try:
        _compiled_validator()(data)
    except JsonSchemaValueException as exc:
        return [_describe(exc)]
    return []


def _describe(exc: "JsonSchemaValueException") -> str:
    # exc.name is the failing location ("data.context.city"); exc.message repeats it before the reason.
    name = exc.name or "data"
    reason = exc.message.removeprefix(name).strip()
    location = name.removeprefix("data").removeprefix(".") or "event"
    return f"{location}: {reason}"
