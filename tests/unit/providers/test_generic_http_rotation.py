"""Generic HTTP signing-secret rotation (design §8.8): during the overlap both secrets sign, newest first; after it
only the new one; receivers accept a request when any listed signature matches."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from nimriz_destinations.providers.base import OutboundRequest
from nimriz_destinations.providers.generic_http import (
    PREVIOUS_SECRET_EXPIRES_AT,
    PREVIOUS_SIGNING_SECRET,
    PROVIDER,
    verify_signature,
)
from nimriz_destinations.redaction import REDACTED
from tests.unit.providers.test_generic_http import CREDENTIALS, NOW, make_item

NEW = "whsec_new_secret_0123456789abcdef"
OLD = "whsec_old_secret_0123456789abcdef"


def rotated(expires_at: float) -> dict[str, Any]:
    return {**CREDENTIALS, "signing_secret": NEW, PREVIOUS_SIGNING_SECRET: OLD, PREVIOUS_SECRET_EXPIRES_AT: expires_at}


def request_at(credentials: dict[str, Any], now: float) -> OutboundRequest:
    built = PROVIDER.build_requests([make_item()], credentials, now=now)
    (request,) = built.requests
    return request


def hex_signature(secret: str, request: OutboundRequest) -> str:
    signed = request.headers["X-Nim-Timestamp"].encode() + b"." + request.body
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_during_the_overlap_the_signature_header_lists_the_new_then_the_old_signature() -> None:
    request = request_at(rotated(NOW + 60), NOW)
    assert request.headers["X-Nim-Signature"] == f"{hex_signature(NEW, request)} {hex_signature(OLD, request)}"


@pytest.mark.parametrize("after", [0.0, 0.5, 3600.0], ids=["at-expiry", "just-after", "long-after"])
def test_once_the_overlap_ends_only_the_new_secret_signs(after: float) -> None:
    request = request_at(rotated(NOW - after), NOW)
    assert request.headers["X-Nim-Signature"] == hex_signature(NEW, request)


def test_both_secrets_and_both_signatures_are_redacted_wherever_the_request_is_recorded() -> None:
    request = request_at(rotated(NOW + 60), NOW)
    digests = [signature.removeprefix("v1=") for signature in request.headers["X-Nim-Signature"].split()]
    assert {NEW, OLD, *digests} <= set(request.secrets)


def test_an_expired_previous_secret_is_still_redacted_should_an_endpoint_echo_it() -> None:
    assert OLD in request_at(rotated(NOW - 60), NOW).secrets


def test_a_preview_masks_the_previous_secret_and_derives_nothing_from_it() -> None:
    authorization = PROVIDER.preview_credentials(rotated(NOW + 60))
    assert authorization.credentials[PREVIOUS_SIGNING_SECRET] == REDACTED
    assert OLD in PROVIDER.secret_values(rotated(NOW + 60))


def test_verify_accepts_a_listed_header_when_any_signature_matches() -> None:
    request = request_at(rotated(NOW + 60), NOW)
    header, timestamp = request.headers["X-Nim-Signature"], request.headers["X-Nim-Timestamp"]
    assert verify_signature(NEW, header, timestamp, request.body, now=NOW)
    assert verify_signature(OLD, header, timestamp, request.body, now=NOW)
    assert not verify_signature("whsec_neither", header, timestamp, request.body, now=NOW)
    assert not verify_signature(NEW, header, timestamp, request.body + b" ", now=NOW)


def test_verify_takes_the_receiver_s_own_list_of_secrets() -> None:
    request = request_at(rotated(NOW - 1), NOW)  # signed with the new secret only
    header, timestamp = request.headers["X-Nim-Signature"], request.headers["X-Nim-Timestamp"]
    assert verify_signature([OLD, NEW], header, timestamp, request.body, now=NOW)
    assert not verify_signature([OLD], header, timestamp, request.body, now=NOW)
    assert not verify_signature([], header, timestamp, request.body, now=NOW)


def test_verify_ignores_signatures_of_other_versions_but_still_checks_v1() -> None:
    request = request_at(rotated(NOW - 1), NOW)
    header, timestamp = request.headers["X-Nim-Signature"], request.headers["X-Nim-Timestamp"]
    assert verify_signature(NEW, f"v2=abc {header}", timestamp, request.body, now=NOW)
    assert not verify_signature(NEW, header.replace("v1=", "v2="), timestamp, request.body, now=NOW)


def test_a_rotation_keeps_the_current_secret_as_the_previous_one_until_the_given_expiry() -> None:
    stored = {**CREDENTIALS, "signing_secret": OLD}
    after = PROVIDER.rotated_signing_secret(stored, previous_expires_at=NOW + 60)
    assert after is not None
    assert after["signing_secret"].startswith("whsec_") and after["signing_secret"] != OLD
    assert after[PREVIOUS_SIGNING_SECRET] == OLD and after[PREVIOUS_SECRET_EXPIRES_AT] == NOW + 60
    assert {name: after[name] for name in CREDENTIALS if name != "signing_secret"} == {
        name: value for name, value in CREDENTIALS.items() if name != "signing_secret"
    }


def test_a_rotation_without_overlap_drops_any_previous_secret() -> None:
    after = PROVIDER.rotated_signing_secret(rotated(NOW + 60), previous_expires_at=None)
    assert after is not None
    assert PREVIOUS_SIGNING_SECRET not in after and PREVIOUS_SECRET_EXPIRES_AT not in after
    assert after["signing_secret"] not in (NEW, OLD)


def test_replacing_credentials_keeps_the_overlap_only_while_the_signing_secret_stays() -> None:
    stored = rotated(NOW + 60)
    kept = PROVIDER.kept_credentials(stored, {"url": "https://hooks.example.com/other"})
    assert kept == {"signing_secret": NEW, PREVIOUS_SIGNING_SECRET: OLD, PREVIOUS_SECRET_EXPIRES_AT: NOW + 60}
    assert PROVIDER.kept_credentials(stored, {"url": "https://x.example.com", "signing_secret": "whsec_mine"}) == {}


def test_credential_hints_show_neither_the_previous_secret_nor_its_expiry() -> None:
    hints = PROVIDER.credential_hints(rotated(NOW + 60))
    assert set(hints) == set(CREDENTIALS)
    assert hints["signing_secret"] == "…cdef"
