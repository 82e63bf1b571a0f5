"""Starts `python -m tests.local.stack` (what `make dev` runs) on a free port for the end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.providers import PROVIDERS
from tests.sinks.server import Sink

ROOT = Path(__file__).resolve().parents[2]
E2E_DEV_KEY = "nim_dev_example_key"
E2E_OTHER_KEY = "nim_e2e_other_workspace_key"
# Generated requests (test_generated_api_input.py) create and change destinations: in a workspace of their own.
E2E_FUZZ_KEY = "nim_e2e_generated_input_workspace_key"
E2E_ADMIN_TOKEN = "nmz_admin_example_token"  # the README examples use it
E2E_DISABLE_MIN_FAILURES = 3
E2E_DISABLE_AFTER_SECONDS = 2


@dataclass
class RunningStack:
    base_url: str
    port: int
    process: subprocess.Popen[str]
    log_path: Path
    moto_url: str  # the stack's AWS stand-in (moto server), for tests that check it directly

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SEGMENT_WRITE_KEY = PROVIDERS["segment"].credentials["write_key"]


@pytest.fixture(scope="session")
def provider_sinks() -> Iterator[dict[str, Sink]]:
    """A sink per provider; the stack's traffic for each destination type goes to its sink."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(Sink(setup.handler())) for name, setup in PROVIDERS.items()}


@pytest.fixture(scope="session")
def segment_sink(provider_sinks: dict[str, Sink]) -> Sink:
    return provider_sinks["segment"]


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, provider_sinks: dict[str, Sink]) -> Iterator[RunningStack]:
    port, moto_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and not key.startswith("POWERTOOLS")
    }
    env.update(
        {
            "PORT": str(port),
            "MOTO_PORT": str(moto_port),
            "NIMRIZ_DEV_API_KEY": E2E_DEV_KEY,
            "NIMRIZ_DEV_API_KEYS": f"ws_other:{E2E_OTHER_KEY},ws_fuzz:{E2E_FUZZ_KEY}",
            "NIMRIZ_ADMIN_TOKEN": E2E_ADMIN_TOKEN,
            "NIMRIZ_EGRESS_OVERRIDES": json.dumps({name: sink.url for name, sink in provider_sinks.items()}),
            # Health thresholds short enough to watch an auto-disable happen (every other test fails at most once).
            "HEALTH_FAILING_AFTER_FAILURES": "2",
            "AUTO_DISABLE_MIN_FAILURES": str(E2E_DISABLE_MIN_FAILURES),
            "AUTO_DISABLE_AFTER_SECONDS": str(E2E_DISABLE_AFTER_SECONDS),
        }
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.local.stack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    stack = RunningStack(f"http://127.0.0.1:{port}", port, process, log_path, f"http://127.0.0.1:{moto_port}")
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{stack.base_url}/_local/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"local stack did not become healthy:\n{stack.log()}")
        time.sleep(0.3)
    yield stack
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("local stack did not stop on Ctrl-C")
