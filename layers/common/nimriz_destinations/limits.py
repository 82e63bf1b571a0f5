"""Per-workspace request limits (design §9.6): each workspace's requests are throttled on their own, by API
Gateway's usage plans, so one workspace sending too much answers 429 `RATE_LIMITED` to itself only.

A limit is a token bucket (API Gateway's algorithm): `burst` requests may arrive at once, and the bucket refills at
`requests_per_second`. Workspaces at the defaults share the stage's default usage plan (each with its own bucket:
usage-plan throttles apply per API key); one with its own limits has a plan of its own. The resolve route (the
redirect path) has its own, higher bucket per workspace, the same in every plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

LIMIT_NAMES = ("requests_per_second", "burst")
# The most an admin may set. Every workspace's buckets draw on the account's 10,000 requests per second and burst
# of 5,000 per Region (API Gateway quotas), shared with the account's other APIs: one workspace may take a tenth of
# that at most, and never more than its resolve route has.
MAX_REQUESTS_PER_SECOND = 500
MAX_BURST = 1000


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_second: int
    burst: int

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in LIMIT_NAMES}


# Kept equal to DefaultUsagePlan's throttle and its resolve route's in template.yaml (a template test checks).
DEFAULT_LIMITS = Limits(requests_per_second=50, burst=100)
RESOLVE_LIMITS = Limits(requests_per_second=MAX_REQUESTS_PER_SECOND, burst=MAX_BURST)
# A usage plan's per-method throttle is keyed "<resource path>/<HTTP method>".
RESOLVE_METHOD = "/api/integrations/interstitial/resolve/POST"


def default_plan_name(stage: str) -> str:
    """DefaultUsagePlan's UsagePlanName in template.yaml: looked up by name, as functions cannot reference it (the
    authorizer would depend on the usage plan, which depends on the API that depends on the authorizer)."""
    return f"nimriz-destinations-{stage}-default"


def workspace_plan_name(stage: str, workspace_id: str) -> str:
    return f"nimriz-destinations-{stage}-ws-{workspace_id}"


def usage_key_name(stage: str, workspace_id: str) -> str:
    return f"nimriz-destinations-{stage}-{workspace_id}"


def usage_key_value(stage: str, workspace_id: str) -> str:
    """The value of the workspace's API Gateway API key, which the authorizer returns as `usageIdentifierKey`.

    Derived, so the authorizer needs no lookup to name it, and not a secret: with the API key source AUTHORIZER,
    API Gateway takes the key from the authorizer's answer only, never from a request header. 64 hex characters:
    an API key value is 20 to 128 alphanumeric characters.
    """
    return hashlib.sha256(f"{stage}:{workspace_id}".encode()).hexdigest()
