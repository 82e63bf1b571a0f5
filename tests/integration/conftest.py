"""Fixtures of the in-process delivery pipeline tests."""

from __future__ import annotations

import pytest

from nimriz_destinations import runtime
from tests.local.template import LocalStack
from tests.pipeline import Pipeline


@pytest.fixture
def pipeline(aws: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    # Fast retries (1 s apart), a 1 s circuit cool-down, a resume's second read of the held index 1 s after its last
    # page, and no config cache, so tests run in seconds.
    monkeypatch.setenv("RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("RETRY_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("CIRCUIT_COOL_DOWN_SECONDS", "1")
    monkeypatch.setenv("RELEASE_SWEEP_DELAY_SECONDS", "1")
    monkeypatch.setenv("CONFIG_CACHE_SECONDS", "0")
    runtime.reset()
    return Pipeline(aws)
