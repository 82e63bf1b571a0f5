"""`make invoke FUNCTION=<logical id> EVENT=events/<file>.json`: the Docker-free `sam local invoke`.

Runs the function's handler from template.yaml with its template environment against a fresh in-process
moto AWS whose resources come from the template (seeded with the dev API key), and prints the result.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from .template import ROOT, functions

DEV_KEY = "nim_dev_local_invoke_key"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0] or not argv[1]:
        print("usage: make invoke FUNCTION=<logical id> EVENT=events/<file>.json", file=sys.stderr)
        return 2
    logical_id, event_path = argv
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
            result = invoke(logical_id, event)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
