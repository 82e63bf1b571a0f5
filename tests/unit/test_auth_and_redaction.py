from __future__ import annotations

import itertools

from nimriz_destinations.auth import allow_policy, extract_api_key
from nimriz_destinations.cache import TTLCache
from nimriz_destinations.redaction import hint, redact_credentials
from nimriz_destinations.storage.api_keys import AuthenticatedKey
from nimriz_destinations.storage.records import Workspace


def test_bearer_header_carries_the_key() -> None:
    assert extract_api_key({"Authorization": "Bearer nim_abc"}) == "nim_abc"
    assert extract_api_key({"authorization": "bearer  nim_abc "}) == "nim_abc"


def test_x_nim_api_key_header_carries_the_key_case_insensitively() -> None:
    assert extract_api_key({"X-NIM-API-KEY": "nim_abc"}) == "nim_abc"


def test_other_schemes_and_empty_values_carry_no_key() -> None:
    assert extract_api_key({"Authorization": "Basic bmltOmFiYw=="}) is None
    assert extract_api_key({"Authorization": "Bearer "}) is None
    assert extract_api_key({}) is None
    assert extract_api_key(None) is None
    assert extract_api_key({"X-Nim-Api-Key": "k" * 300}) is None


def test_allow_policy_covers_the_stage_and_passes_the_workspace_key_id_scopes_and_usage_key() -> None:
    arn = "arn:aws:execute-api:us-east-1:123:abc/prod/GET/api/integrations/destinations"
    key = AuthenticatedKey("k_1", Workspace("ws_1", "org_1"), ("deliveries:replay", "destinations:read"), None, True)
    policy = allow_policy(arn, key, "a" * 64)
    assert policy["usageIdentifierKey"] == "a" * 64  # the workspace's API Gateway key: its usage plan throttles
    assert policy["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:123:abc/prod/*"  # type: ignore[index]
    assert policy["context"] == {
        "workspace_id": "ws_1",
        "organization_id": "org_1",
        "api_key_id": "k_1",
        "scopes": "destinations:read deliveries:replay",
    }


def test_hint_shows_at_most_the_last_four_characters() -> None:
    assert hint("seg_live_0123456789abcdef") == "…cdef"
    assert hint("short") == "…"


def test_redaction_keeps_plain_fields_and_hides_secret_ones() -> None:
    redacted = redact_credentials(
        {
            "url": "https://x.example.com",
            "headers": {"Authorization": "Bearer abcdefghijklmnop"},
            "signing_secret": "whsec_abcdefghijklmnop",
        },
        frozenset({"headers", "signing_secret"}),
    )
    assert redacted == {
        "url": "https://x.example.com",
        "headers": {"Authorization": "…mnop"},
        "signing_secret": "…mnop",
    }


def test_ttl_cache_expires_and_is_bounded() -> None:
    now = itertools.count()
    cache: TTLCache[int] = TTLCache(max_entries=2, ttl_seconds=5, clock=lambda: float(next(now)))
    loads = []

    def load(value: int) -> int:
        loads.append(value)
        return value

    assert cache.get_or_load("a", lambda: load(1)) == 1
    assert cache.get_or_load("a", lambda: load(2)) == 1
    for key in ("b", "c"):
        cache.get_or_load(key, lambda: load(3))
    assert len(cache) == 2
    assert cache.get_or_load("a", lambda: load(4)) == 4  # evicted as least recently used
    for _ in range(10):
        next(now)
    assert cache.get_or_load("a", lambda: load(5)) == 5  # expired
