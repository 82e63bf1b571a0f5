"""`make invoke FUNCTION=<logical id> EVENT=events/<file>.json`: the Docker-free `sam local invoke`.

Runs the function's handler from template.yaml with its template environment against a fresh in-process
moto AWS whose resources come from the template (seeded with the dev API key), and prints the result.

`python -m tests.local.invoke --each` runs many such invocations in one process, each exactly as its own
`make invoke` would (a fresh AWS, the function's environment, a handler imported afresh): the runs, a JSON list of
`{"function", "event", "environment"}` (`environment`: variables to set for that run), come on standard input;
a JSON list of `{"exit_code", "output"}` (`output`: what `make invoke` would have printed) goes to standard output.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .template import ROOT, functions

DEV_KEY = "nim_dev_local_invoke_key"
USAGE = "usage: make invoke FUNCTION=<logical id> EVENT=events/<file>.json"


def main(argv: list[str]) -> int:
    if argv == ["--each"]:
        print(json.dumps(invoke_each(json.load(sys.stdin))))
        return 0
    if len(argv) != 2 or not argv[0] or not argv[1]:
        print(USAGE, file=sys.stderr)
        return 2
    return invoke_one(*argv)


def invoke_one(logical_id: str, event_path: str, *, environment: int = 0) -> int:
    """One invocation on a fresh AWS, printed as `make invoke` prints it; the exit code. `environment` picks the
    execution environment (a handler module of its own)."""
    if logical_id not in functions():
        print(f"unknown function {logical_id!r}; one of: {', '.join(sorted(functions()))}", file=sys.stderr)
        return 2
    event = json.loads((ROOT / event_path if not Path(event_path).is_absolute() else Path(event_path)).read_text())
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "NimrizDestinationsLocal",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from nimriz_destinations import runtime
    from nimriz_destinations.settings import get_settings

    from .lambdas import invoke
    from .seed import EXAMPLE_DESTINATION_ID, seed_example_destination, seed_keys
    from .template import create_stack

    with mock_aws():
        stack = create_stack(stage="local")
        os.environ.update(stack.function_environment(logical_id))
        runtime.reset()
        seed_keys(stack.tables["DestinationsTable"], DEV_KEY, [])
        secret_name = get_settings().secret_name("ws_dev", EXAMPLE_DESTINATION_ID)
        seed_example_destination(stack.tables["DestinationsTable"], secret_name)
        try:
            result = invoke(logical_id, event, environment=environment)
        except Exception as exc:
            # What Lambda (and `sam local invoke`) report for a function error.
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            print(json.dumps(error, indent=2))
            return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def invoke_each(runs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each run as its own `make invoke` would go: its exit code and everything it printed."""
    from nimriz_destinations import runtime

    from .service_models import share_service_models

    share_service_models()
    results = []
    for number, run in enumerate(runs, start=1):
        with tempfile.TemporaryFile("w+") as output, _environment(run.get("environment", {})):
            with _standard_output_to(output):
                exit_code = invoke_one(run["function"], run["event"], environment=number)
            runtime.reset()
            output.seek(0)
            results.append({"exit_code": exit_code, "output": output.read()})
    return results


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _standard_output_to(file: Any) -> Iterator[None]:
    """Everything written to standard output (print, the handlers' loggers, whatever object they hold) goes to
    `file` meanwhile: the file descriptor itself is redirected."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(file.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
