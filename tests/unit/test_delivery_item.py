"""Preparing a delivery item: a mapped event is at most 64 KB as the compact UTF-8 JSON an adapter would send."""

from __future__ import annotations

import pytest

from nimriz_destinations.delivery.prepare import MAX_MAPPED_EVENT_BYTES, MappedEventTooLarge, delivery_item
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers import get_provider
from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.sample_events import sample_event

PROVIDER = get_provider("generic_http")
COPY_UTM_CONTENT = compile_mapping(
    PropertyMapping.model_validate({"base": "none", "overrides": [{"type": "include", "field": "utm.content"}]})
)
ENVELOPE = len('{"utm":{"content":""}}')


def prepare(utm_content: str) -> object:
    event = sample_event("link.clicked", workspace_id="ws_1", organization_id="org_1")
    event["utm"]["content"] = utm_content
    return delivery_item(PROVIDER, COPY_UTM_CONTENT, event, delivery_id="dlv_1", reason="live", attempt=1)


def test_a_mapped_event_of_64_kb_is_prepared_one_byte_more_is_refused() -> None:
    # "é" is 2 bytes of UTF-8: the limit counts bytes, not characters.
    accents = "é" * 1000
    fitting = accents + "x" * (MAX_MAPPED_EVENT_BYTES - ENVELOPE - 2000)
    assert MAX_MAPPED_EVENT_BYTES == 65_536
    assert prepare(fitting)

    with pytest.raises(MappedEventTooLarge) as refused:
        prepare(fitting + "x")
    assert refused.value.size == MAX_MAPPED_EVENT_BYTES + 1
    outcome = refused.value.outcome
    assert (outcome.verdict, outcome.error_class) == (Verdict.PERMANENT, "payload_too_large")
    assert "65537 bytes" in (outcome.message or "") and "64 KB" in (outcome.message or "")
