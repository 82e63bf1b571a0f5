"""docs/openapi.json is generated from the models; it must match the code (run `make openapi` after changes)."""

from __future__ import annotations

import json

from tests.local.openapi import OUTPUT, render


def test_committed_openapi_document_matches_the_code() -> None:
    assert OUTPUT.read_text() == render(), "docs/openapi.json drifted from the code: run `make openapi`"


def test_document_covers_every_documented_endpoint() -> None:
    paths = json.loads(OUTPUT.read_text())["paths"]
    assert set(paths["/api/integrations/destinations"]) == {"get", "post"}
    assert set(paths["/api/integrations/destinations/{destination_id}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/integrations/destinations/{destination_id}/test-send"]) == {"post"}
