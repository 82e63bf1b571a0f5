"""What a destination's requests carry that depends on its secrets, found by difference rather than by knowing the
adapters: the requests the dispatcher would really send are built twice, with every secret changed in between, and
each piece that changes (a key, a webhook signature, a Basic token, an OAuth access token obtained with them)
depends on a secret. Tests then check that no such piece shows in a preview, a record or an excerpt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from nimriz_destinations.delivery.group_sender import GroupSender
from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.providers import DESTINATION_TYPES, get_provider
from nimriz_destinations.providers.base import DeliveryItem, OutboundRequest, ProviderResponse
from nimriz_destinations.providers.oauth import forget_all_tokens
from nimriz_destinations.sample_events import sample_event
from tests.factories import SECRET_MARK, VALID_CREDENTIALS
from tests.provider_support import make_item
from tests.secret_encodings import ENCODINGS

NOW = 1_790_000_000.0  # both builds at the same moment: only the secrets differ
EVENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_MARK = "zQ9xW2vB7nK4"  # replaces SECRET_MARK in the second set of secrets

# Every destination type that sends requests, plus LinkedIn with a refresh token (an OAuth access token obtained).
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{
        destination_type: (destination_type, VALID_CREDENTIALS[destination_type])
        for destination_type in DESTINATION_TYPES
        if get_provider(destination_type).delivers
    },
    "linkedin_refreshing": (
        "linkedin",
        {
            "conversion_rule_id": "104",
            "client_id": "li-client-1",
            "client_secret": f"{SECRET_MARK}_li_client_secret",
            "refresh_token": f"{SECRET_MARK}_li_refresh_token",
        },
    ),
}


def credentials(case: str, mark: str = SECRET_MARK) -> dict[str, Any]:
    """The case's credentials, every secret carrying `mark` (only secret values carry SECRET_MARK)."""
    replaced: dict[str, Any] = json.loads(json.dumps(CASES[case][1]).replace(SECRET_MARK, mark))
    return replaced


def item_for(destination_type: str) -> DeliveryItem:
    """An item every adapter of the type sends (a sale, with click ids, email and phone, for the ad platforms),
    recorded a minute before NOW."""
    provider = get_provider(destination_type)
    event_type = "conversion.sale" if "send_conversion" in provider.action_types else "link.clicked"
    recorded = datetime.fromtimestamp(NOW - 60, UTC)
    event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id=EVENT_ID, now=recorded)
    return make_item(provider, event)


class EchoingEndpoint(HttpSender):
    """Every provider at once: a token endpoint answers with an access token made from the request (so it changes
    with the secrets), any other request is answered 400 with all of it echoed back, and kept."""

    def __init__(self) -> None:
        super().__init__(allow_loopback=False)
        self.received: list[OutboundRequest] = []

    def send(self, destination_type: str, request: OutboundRequest) -> ProviderResponse:
        if not request.items:  # the OAuth refresh-token grant
            token = "ya29." + hashlib.sha256(request.body).hexdigest()[:32]
            return ProviderResponse(200, {}, json.dumps({"access_token": token, "expires_in": 3600}).encode())
        self.received.append(request)
        echo = {"headers": dict(request.headers), "url": request.url, "body": request.body.decode()}
        return ProviderResponse(400, {}, json.dumps(echo).encode())


def sent(case: str, mark: str = SECRET_MARK) -> tuple[list[OutboundRequest], dict[int, SendResult]]:
    """What the dispatcher sends for the case's item (through `GroupSender`, authorization included), and what it
    records of each attempt."""
    destination_type, _ = CASES[case]
    forget_all_tokens()
    endpoint = EchoingEndpoint()
    results = GroupSender(endpoint, clock=lambda: NOW).send(
        get_provider(destination_type), credentials(case, mark), [item_for(destination_type)]
    )
    assert endpoint.received, f"{case}: nothing was sent, so nothing is checked"
    return endpoint.received, results


def _pieces(request: OutboundRequest) -> list[str]:
    return [request.url, *(request.headers[name] for name in sorted(request.headers)), request.body.decode()]


def _shared_start(first: str, second: str) -> int:
    shorter = min(len(first), len(second))
    return next((i for i in range(shorter) if first[i] != second[i]), shorter)


def _differing_middle(first: str, second: str) -> str:
    prefix = _shared_start(first, second)
    suffix = _shared_start(first[prefix:][::-1], second[prefix:][::-1])
    return first[prefix : len(first) - suffix]


def secret_dependent(case: str) -> set[str]:
    """Every piece of the case's real requests (with SECRET_MARK secrets) that changes when the secrets change."""
    (first, _), (second, _) = sent(case), sent(case, OTHER_MARK)
    assert len(first) == len(second)
    return {
        _differing_middle(a, b)
        for one, other in zip(first, second, strict=True)
        for a, b in zip(_pieces(one), _pieces(other), strict=True)
        if a != b
    }


def secret_values(case: str) -> list[str]:
    values = credentials(case).values()
    return [str(v) for value in values for v in (value.values() if isinstance(value, Mapping) else [value])]


def shown_derivations(shown: str, case: str, dependent: Iterable[str]) -> set[str]:
    """What of `dependent` (and of any base64 of a secret: Basic tokens) `shown` holds: whole pieces of 6 characters
    or more, or any 8-character window of one."""
    forms = set(dependent) | {
        ENCODINGS[f"{alphabet}_shift{shift}"](secret)[1]
        for secret in secret_values(case)
        if SECRET_MARK in secret
        for alphabet in ("base64", "base64url")
        for shift in range(3)
    }
    windows = {form[i : i + 8] for form in forms for i in range(len(form) - 7)}
    return {form for form in forms if len(form) >= 6 and form in shown} | {w for w in windows if w in shown}
