"""Validation of canonical event v1 messages (design §4): the shipped JSON Schema, then the calendar.

The schema can only shape a timestamp (a pattern, or just a string), so every timestamp it let through is then
read as the instant it names: a real date and time (no 31 February, no `:60`) in the years 1971 to 9999 (UTC).

fastjsonschema generates and compiles Python code for the schema: it is imported and compiled on first use
only (about 30 ms of imports), so functions that never validate pay nothing at cold start.
"""

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import parse_rfc3339
from .event_fields import TIMESTAMP_PATHS, compile_path
from .ids import is_platform_id

if TYPE_CHECKING:
    from fastjsonschema import JsonSchemaValueException

SCHEMA_PATH = Path(__file__).parent / "schemas" / "canonical_event_v1.json"

# Unix times stay positive (and clear of 0, which receivers read as "unset"), and years keep four digits: what
# every provider's timestamp fields take (design §5).
EARLIEST_YEAR, LATEST_YEAR = 1971, 9999
_TIMESTAMPS = tuple((path, compile_path(path)) for path in TIMESTAMP_PATHS)


@functools.cache
def _compiled_validator() -> Callable[[Any], Any]:
    import fastjsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator: Callable[[Any], Any] = fastjsonschema.compile(schema)
    return validator


def validate_canonical_event(data: Any) -> list[str]:
    """Problems with `data` as a canonical event v1, as "path: reason" lines; empty when it is valid.

    fastjsonschema stops at the first failure, so an event the schema refuses yields exactly one problem; one it
    accepts yields one per timestamp that names no instant in range.
    """
    from fastjsonschema import JsonSchemaValueException

    try:
        _compiled_validator()(data)
    except JsonSchemaValueException as exc:
        return [_describe(exc)]
    problems = [
        f"{name}: must be 1 to 64 letters, digits, '_' or '-' (a Nimriz platform id)"
        for name in ("workspace_id", "organization_id")
        if not is_platform_id(data[name])  # a partition key of every read made for the event (design §3)
    ]
    return problems + [f"{path}: {reason}" for path, get in _TIMESTAMPS if (reason := _timestamp_problem(get(data)))]


def _describe(exc: "JsonSchemaValueException") -> str:
    # exc.name is the failing location ("data.context.city"); exc.message repeats it before the reason.
    name = exc.name or "data"
    reason = exc.message.removeprefix(name).strip()
    location = name.removeprefix("data").removeprefix(".") or "event"
    return f"{location}: {reason}"


def _timestamp_problem(value: str | None) -> str | None:
    """Why a timestamp the schema accepted (a string, or absent or null where it is optional) names no instant."""
    if value is None:
        return None
    try:
        moment = parse_rfc3339(value)
    except ValueError as problem:
        return str(problem)
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        return f"must be within the years {EARLIEST_YEAR} to {LATEST_YEAR} in UTC"
    return None
