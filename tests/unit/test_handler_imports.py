"""What importing a handler module loads at cold start, in Lambda with tracing on: only what every request needs
(`make bench` measures the time, `import_ratio`)."""

from __future__ import annotations

import json

import pytest

from tests.lambda_process import run_like_lambda

# Printed by a fresh interpreter after importing the handler module.
_LOADED = """
import json, sys
import pydantic
import {module}
built = sorted(
    f"{{model.__module__}}.{{model.__qualname__}}"
    for name, module in list(sys.modules.items()) if name.startswith("nimriz_destinations")
    for model in vars(module).values()
    if isinstance(model, type) and issubclass(model, pydantic.BaseModel) and model.__pydantic_complete__
)
print(json.dumps({{"modules": sorted(sys.modules), "built_models": built}}))
"""


def loaded_by_import(function: str) -> dict[str, list[str]]:
    loaded: dict[str, list[str]] = json.loads(run_like_lambda(_LOADED.format(module=function), function))
    return loaded


@pytest.mark.parametrize("function", ["get_destination", "create_destination", "fanout", "dispatcher"])
def test_a_handler_module_loads_no_aws_client_tracing_sdk_service_or_model_validator(function: str) -> None:
    loaded = loaded_by_import(function)
    modules = set(loaded["modules"])

    assert not modules & {"boto3", "botocore.client", "aws_xray_sdk"}  # AWS clients and the tracer: at first use
    assert not {name for name in modules if name.startswith("nimriz_destinations.service.")}  # runtime, first use
    assert loaded["built_models"] == []  # each model's validator is built when a request first needs it
