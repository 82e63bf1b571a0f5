"""Tracing of Lambda handlers: never records responses or errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from nimriz_destinations import observability


class RecordingSubsegment:
    def __init__(self) -> None:
        self.metadata: list[tuple[str, Any]] = []
        self.annotations: dict[str, Any] = {}

    def put_metadata(self, key: str, value: Any, namespace: str = "") -> None:
        self.metadata.append((key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class RecordingProvider:
    def __init__(self) -> None:
        self.subsegments: dict[str, RecordingSubsegment] = {}

    @contextmanager
    def in_subsegment(self, name: str) -> Iterator[RecordingSubsegment]:
        self.subsegments[name] = RecordingSubsegment()
        yield self.subsegments[name]


def test_a_traced_handler_gets_a_subsegment_without_its_response_or_error(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(observability.tracer, "provider", provider)

    @observability.trace_handler
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("fail"):
            raise RuntimeError("whsec_revealed_once")
        return {"signing_secret": "whsec_revealed_once"}

    assert lambda_handler({}, None) == {"signing_secret": "whsec_revealed_once"}
    with pytest.raises(RuntimeError):
        lambda_handler({"fail": True}, None)

    subsegment = provider.subsegments["## lambda_handler"]
    assert "ColdStart" in subsegment.annotations
    assert subsegment.metadata == []
