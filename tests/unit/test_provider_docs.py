"""The default-mapping table in docs/ is generated from the adapters and must match them."""

from __future__ import annotations

from nimriz_destinations.providers import DESTINATION_TYPES, get_provider
from tests.local.provider_docs import OUTPUT, render


def test_committed_default_mapping_table_matches_the_adapters() -> None:
    assert OUTPUT.read_text() == render(), "docs/default-mappings.md drifted: run `make docs`"


def test_every_delivering_provider_documents_its_default_mapping() -> None:
    for destination_type in DESTINATION_TYPES:
        provider = get_provider(destination_type)
        if provider.delivers:
            assert len(provider.default_mapping_doc) >= 3, destination_type
