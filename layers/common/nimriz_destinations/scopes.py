"""What a workspace API key may do. Every workspace route needs exactly one scope (README, "Scopes").

The authorizer passes a key's scopes to the endpoint in its context, space-separated (API Gateway context values
are plain strings); the endpoint's resolver (`api/app.py`) checks the scope its route declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Scope = Literal["destinations:read", "destinations:write", "deliveries:replay", "interstitial:resolve"]
ALL_SCOPES: tuple[Scope, ...] = get_args(Scope)


def canonical_scopes(scopes: Iterable[str]) -> list[Scope]:
    """The known scopes among `scopes`, once each, in the documented order."""
    wanted = set(scopes)
    return [scope for scope in ALL_SCOPES if scope in wanted]


def scopes_to_context(scopes: Iterable[str]) -> str:
    return " ".join(canonical_scopes(scopes))


def scopes_from_context(value: object) -> frozenset[str]:
    return frozenset(value.split()) if isinstance(value, str) else frozenset()
