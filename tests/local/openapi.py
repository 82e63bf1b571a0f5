"""The OpenAPI document, merged from every API function's own resolver (one route each).

`make openapi` writes docs/openapi.json; a test fails when the committed file drifts from the code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any
from unittest import mock

from .template import ROOT, functions, named_stack

OUTPUT = ROOT / "docs" / "openapi.json"


def build_document() -> str:
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import Server

    from .template import load_handler

    security_schemes: dict[str, Any] = {
        "bearer": {"type": "http", "scheme": "bearer"},
        "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Nim-Api-Key"},
        # The admin API: AWS SigV4 in the Authorization header (how API Gateway documents AWS_IAM).
        "awsSigV4": {"type": "apiKey", "in": "header", "name": "Authorization"},
    }
    merge = OpenAPIMerge(
        title="Nimriz Destinations API",
        version="2026-03-30",
        description="Manage outbound destinations and their actions. Authenticate with a workspace API key "
        "(`Authorization: Bearer <key>` or `X-Nim-Api-Key: <key>`). The `/admin/...` routes are the admin API "
        "for the Nimriz platform's backend: requests signed with AWS SigV4 (API Gateway AWS_IAM), never workspace "
        "keys; on the local stack, `Authorization: Bearer $NIMRIZ_ADMIN_TOKEN` stands in for the signature.",
        servers=[Server(url="http://127.0.0.1:3000", description="local stack")],
        security_schemes=security_schemes,
        security=[{"bearer": []}, {"apiKeyHeader": []}],
        on_conflict="error",
    )
    for logical_id, function in sorted(functions().items()):
        if not any(event["Type"] == "Api" for event in function["Properties"].get("Events", {}).values()):
            continue
        # A handler checks its settings when it loads: each loads with its own function's environment.
        with mock.patch.dict(os.environ, named_stack().function_environment(logical_id)):
            load_handler(logical_id)
        module = importlib.import_module(f"nimriz_function_{logical_id}")
        # Each function's schema names the schemes its routes use (the admin routes: awsSigV4).
        schema = module.app.get_openapi_json_schema(
            title="Nimriz Destinations API", version="2026-03-30", security_schemes=security_schemes
        )
        merge.add_schema(json.loads(schema))
    return merge.get_openapi_json_schema()


def without_bodies_on_204(document: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents a `Response[None]` as a JSON `null` body; a 204 has no body at all (RFC 9110)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            no_content = operation.get("responses", {}).get("204")
            if no_content is not None:
                no_content.pop("content", None)
    return document


def render() -> str:
    document = without_bodies_on_204(json.loads(build_document()))
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write docs/openapi.json")
    args = parser.parse_args()
    text = render()
    if args.write:
        OUTPUT.write_text(text)
        print(f"wrote {OUTPUT.relative_to(ROOT)}")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
