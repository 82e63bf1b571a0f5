"""Starts `python -m tests.local.stack` (what `make dev` runs) on a free port for the end-to-end tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from tests.e2e.providers import PROVIDERS
from tests.local.stack import RunningStack, stack_process
from tests.sinks.server import Sink

E2E_DEV_KEY = "nim_dev_example_key"
E2E_OTHER_KEY = "nim_e2e_other_workspace_key"
# Generated requests (test_generated_api_input.py) create and change destinations: in a workspace of their own.
E2E_FUZZ_KEY = "nim_e2e_generated_input_workspace_key"
E2E_ADMIN_TOKEN = "nmz_admin_example_token"  # the README examples use it
E2E_DISABLE_MIN_FAILURES = 3
E2E_DISABLE_AFTER_SECONDS = 2


SEGMENT_WRITE_KEY = PROVIDERS["segment"].credentials["write_key"]


@pytest.fixture(scope="session")
def provider_sinks() -> Iterator[dict[str, Sink]]:
    """A sink per provider; the stack's traffic for each destination type goes to its sink."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(Sink(setup.handler())) for name, setup in PROVIDERS.items()}


@pytest.fixture(scope="session")
def segment_sink(provider_sinks: dict[str, Sink]) -> Sink:
    return provider_sinks["segment"]


def stack_settings(provider_sinks: dict[str, Sink]) -> dict[str, str]:
    """The end-to-end stacks' settings: the keys above, every provider's traffic to its sink."""
    return {
        "NIMRIZ_DEV_API_KEY": E2E_DEV_KEY,
        "NIMRIZ_DEV_API_KEYS": f"ws_other:{E2E_OTHER_KEY},ws_fuzz:{E2E_FUZZ_KEY}",
        "NIMRIZ_ADMIN_TOKEN": E2E_ADMIN_TOKEN,
        "NIMRIZ_EGRESS_OVERRIDES": json.dumps({name: sink.url for name, sink in provider_sinks.items()}),
        # Health thresholds short enough to watch an auto-disable happen (every other test fails at most once).
        "HEALTH_FAILING_AFTER_FAILURES": "2",
        "AUTO_DISABLE_MIN_FAILURES": str(E2E_DISABLE_MIN_FAILURES),
        "AUTO_DISABLE_AFTER_SECONDS": str(E2E_DISABLE_AFTER_SECONDS),
    }


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, provider_sinks: dict[str, Sink]) -> Iterator[RunningStack]:
    settings = stack_settings(provider_sinks)
    with stack_process(settings, tmp_path_factory.mktemp("stack") / "stack.log") as stack:
        yield stack
