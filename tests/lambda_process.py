"""A fresh interpreter set up as Lambda sets one up for a function: the layer and the function's code on the path,
tracing on (`LAMBDA_TASK_ROOT` is what Powertools takes for Lambda). For what only a fresh process shows: imports,
the tracer's patching."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.local.template import ROOT, function_of, named_stack


def lambda_environment(code_folder: Path) -> dict[str, str]:
    """What Lambda gives the function in `code_folder`: its template environment (Globals and its own, the
    resources' names made up), which its handler module checks when it loads."""
    logical_id = function_of(code_folder)
    return {
        **(named_stack().function_environment(logical_id) if logical_id else {}),
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/common"), str(code_folder)]),
        "LAMBDA_TASK_ROOT": str(code_folder),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "nimriz-destinations",
    }


def run_like_lambda(script: str, function: str) -> str:
    """Runs `script` as Lambda would run `function`'s code; returns what it printed (it must exit 0)."""
    code_folder = ROOT / "functions" / function
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=lambda_environment(code_folder),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
