"""Invoke template functions in this process the way Lambda would: one event at a time per function."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from .template import functions, load_handler, load_template

ACCOUNT_ID = "123456789012"

# Lambda runs one event at a time per execution environment; Powertools resolvers rely on that.
_locks: defaultdict[tuple[str, int], threading.Lock] = defaultdict(threading.Lock)


class FakeLambdaContext:
    """The attributes Powertools and our handlers read from a Lambda context."""

    def __init__(self, function_name: str, timeout_seconds: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def wait_for_invocations(logical_id: str, environments: int) -> None:
    """Return once every invocation of the function's first `environments` environments under way has ended."""
    for environment in range(environments):
        with _locks[(logical_id, environment)]:
            pass


def timeout_of(logical_id: str) -> int:
    default = load_template().get("Globals", {}).get("Function", {}).get("Timeout", 3)
    return int(functions()[logical_id]["Properties"].get("Timeout", default))


def invoke(
    logical_id: str, event: dict[str, Any], *, timeout_seconds: float | None = None, environment: int = 0
) -> Any:
    """`timeout_seconds` replaces the template's Timeout (tests that plan against a short invocation);
    `environment` picks one of several execution environments of the function, which run concurrently."""
    handler = load_handler(logical_id, environment)
    with _locks[(logical_id, environment)]:
        return handler(event, FakeLambdaContext(logical_id, timeout_seconds or timeout_of(logical_id)))
