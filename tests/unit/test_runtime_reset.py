"""`runtime.reset()` forgets every cached object, the OAuth providers' access tokens included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations import runtime
from nimriz_destinations.providers import get_provider
from nimriz_destinations.providers.base import OutboundRequest, ProviderResponse

REFRESHING_CREDENTIALS: dict[str, dict[str, Any]] = {
    "google_ads": {
        "customer_id": "1234567890",
        "conversion_action_id": "987654321",
        "developer_token": "dev-token-Secret-44aa",
        "client_id": "1234-abc.apps.googleusercontent.com",
        "client_secret": "GOCSPX-client-secret-55bb",
        "refresh_token": "1//refresh-token-66cc",
    },
    "linkedin": {
        "conversion_rule_id": "104012",
        "client_id": "86abc123linkedin",
        "client_secret": "WPL_AP1.client-secret-9e2f",
        "refresh_token": "AQW-linkedin-refresh-token-5c1d",
    },
}


class TokenEndpoint:
    """A `send` that answers every token request with a new access token."""

    def __init__(self) -> None:
        self.requests: list[OutboundRequest] = []

    def __call__(self, request: OutboundRequest) -> ProviderResponse:
        self.requests.append(request)
        body = {"access_token": f"token-{len(self.requests)}", "expires_in": 3599}
        return ProviderResponse(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


@pytest.fixture(autouse=True)
def no_tokens_left_behind() -> Iterator[None]:
    yield
    runtime.reset()  # the module-level providers are shared with every other test


@pytest.mark.parametrize("destination_type", sorted(REFRESHING_CREDENTIALS))
def test_reset_makes_the_oauth_providers_fetch_a_new_access_token(destination_type: str) -> None:
    provider, credentials = get_provider(destination_type), REFRESHING_CREDENTIALS[destination_type]
    send = TokenEndpoint()
    assert provider.authorize(credentials, send)["access_token"] == "token-1"
    assert provider.authorize(credentials, send)["access_token"] == "token-1"  # cached

    runtime.reset()

    assert provider.authorize(credentials, send)["access_token"] == "token-2"
    assert len(send.requests) == 2
