"""Composition root of the interstitial functions: long-lived objects built once per execution environment.

Imports sit inside the factories, so the page function never loads pydantic or the resolver's storage code.
`reset()` is called from `nimriz_destinations.runtime.reset()` (tests and local-stack restarts).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from ..settings import get_settings, requires

if TYPE_CHECKING:
    from .resolve import InterstitialResolver
    from .secret import TokenSecret


# The token key's ARN is not required: the local stage may do without it (interstitial/secret.py).
@requires()
@cache
def token_secret() -> TokenSecret:
    from .secret import TokenSecret

    return TokenSecret(get_settings())


@requires("table_name", uses=[token_secret])
@cache
def interstitial_resolver() -> InterstitialResolver:
    from ..storage.destinations import DestinationStore
    from .resolve import InterstitialResolver

    settings = get_settings()
    return InterstitialResolver(
        DestinationStore(settings.required("table_name")),
        token_secret().get,
        cache_seconds=settings.config_cache_seconds,
    )


def reset() -> None:
    for factory in (interstitial_resolver, token_secret):
        factory.cache_clear()
