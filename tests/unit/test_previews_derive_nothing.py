"""A preview never signs or derives (issue 16): nothing computed from a secret shows in a preview of any destination
type, and an attempt's record (its request and the answer's excerpt) shows none of it either.

What is computed from a secret is found by difference (`tests/derived_values.py`), so a new adapter is covered the
day it is registered.
"""

from __future__ import annotations

import json

import pytest

from nimriz_destinations.delivery.prepare import previewed_requests
from nimriz_destinations.providers import get_provider
from nimriz_destinations.providers.base import COMPUTED_AT_SEND
from nimriz_destinations.providers.common import json_bytes
from nimriz_destinations.providers.generic_http import verify_signature
from tests.derived_values import (
    CASES,
    NOW,
    credentials,
    item_for,
    secret_dependent,
    sent,
    shown_derivations,
)
from tests.factories import SECRET_MARK, VALID_CREDENTIALS


def preview_of(case: str) -> tuple[list[dict[str, object]], str | None]:
    destination_type, _ = CASES[case]
    provider = get_provider(destination_type)
    return previewed_requests(provider, credentials(case), item_for(destination_type), now=NOW)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_preview_shows_nothing_computed_from_a_secret(case: str) -> None:
    shown, note = preview_of(case)
    assert shown, "the preview shows a request"
    text = json.dumps([shown, note], ensure_ascii=False)
    assert SECRET_MARK not in text
    assert not shown_derivations(text, case, secret_dependent(case)), text


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_attempt_records_nothing_computed_from_a_secret_even_when_the_endpoint_echoes_it_all(case: str) -> None:
    _, results = sent(case)
    dependent = secret_dependent(case)
    for result in results.values():
        recorded = json.dumps(
            [result.request, result.response_excerpt, result.outcome.error_class, result.outcome.message],
            ensure_ascii=False,
        )
        assert SECRET_MARK not in recorded
        assert not shown_derivations(recorded, case, dependent), recorded


def test_no_webhook_preview_verifies_under_the_signing_secret() -> None:
    (request,) = sent("generic_http")[0]
    assert json_bytes(json.loads(request.body)) == request.body  # a shown body re-serialises to the signed bytes
    secret = VALID_CREDENTIALS["generic_http"]["signing_secret"]
    shown, _ = preview_of("generic_http")
    for preview in shown:
        headers, body = preview["headers"], json_bytes(preview["body"])
        assert isinstance(headers, dict)
        assert headers["X-Nim-Signature"] == f"v1={COMPUTED_AT_SEND}"
        assert not verify_signature(secret, headers["X-Nim-Signature"], headers["X-Nim-Timestamp"], body, now=NOW)


@pytest.mark.parametrize("case", ["segment", "mixpanel"])
def test_a_basic_token_is_shown_as_computed_at_send(case: str) -> None:
    (preview,), _ = preview_of(case)
    headers = preview["headers"]
    assert isinstance(headers, dict) and headers["Authorization"] == f"Basic {COMPUTED_AT_SEND}"
