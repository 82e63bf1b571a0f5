"""The one place that reads the process environment.

Everything else receives a `Settings` value; domain code never touches `os.environ`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from .interstitial.platforms import PLATFORM_NAMES

# Settings without a usable default: a factory that needs one asks `Settings.required`, so a missing variable
# stops the function at start with its name instead of failing later on an empty queue URL or table name.
RequiredSetting = Literal[
    "table_name", "deliveries_queue_url", "live_events_queue_url", "live_events_dlq_url", "recoveries_queue_url"
]
_REQUIRED_VARIABLES: dict[RequiredSetting, str] = {
    "table_name": "TABLE_NAME",
    "deliveries_queue_url": "DELIVERIES_QUEUE_URL",
    "live_events_queue_url": "LIVE_EVENTS_QUEUE_URL",
    "live_events_dlq_url": "LIVE_EVENTS_DLQ_URL",
    "recoveries_queue_url": "RECOVERIES_QUEUE_URL",
}


class MissingSetting(RuntimeError):
    """A variable the function needs is not set in its environment."""


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str
    table_name: str
    deliveries_queue_url: str
    live_events_queue_url: str
    live_events_dlq_url: str
    recoveries_queue_url: str
    secret_prefix: str
    max_body_bytes: int
    auth_cache_seconds: int
    config_cache_seconds: int
    # Routing time each workspace may spend in one fan-out batch before its remaining events are deferred.
    fanout_workspace_share_seconds: float
    egress_overrides_json: str
    retry_base_seconds: float
    retry_backoff_factor: float
    retry_max_delay_seconds: float
    delivery_log_days: int
    audit_retention_days: int
    request_deadline_seconds: float
    circuit_failure_threshold: int
    circuit_cool_down_seconds: float
    health_failing_after_failures: int
    auto_disable_after_seconds: float
    auto_disable_min_failures: int
    hold_max_seconds: float  # how long a paused destination's deliveries are held before they are dead-lettered
    # Keys the hash that names admins in tenants' audit logs (audit.admin_actor): per deployment, never shown.
    operator_id_key: str
    interstitial_token_secret_arn: str  # Secrets Manager secret holding the per-stage HMAC key of page tokens
    interstitial_local_secret: str  # local stage only: NIMRIZ_INTERSTITIAL_SECRET
    interstitial_page_base_url: str  # where /i/{token} is served; empty: derived from the request
    # local stage only: platform -> base URL replacing the scheme, host and port of that platform's hosts
    pixel_host_overrides: Mapping[str, str]

    @property
    def is_local(self) -> bool:
        # Loopback egress, plain http and the local-only knobs are only ever honoured on the local stack.
        return self.stage == "local"

    def required(self, name: RequiredSetting) -> str:
        """The value of a setting without a default; raises `MissingSetting` naming the variable when it is unset."""
        value: str = getattr(self, name)
        if not value:
            raise MissingSetting(f"{_REQUIRED_VARIABLES[name]} is not set")
        return value

    def secret_name(self, workspace_id: str, destination_id: str) -> str:
        return f"{self.secret_prefix}/{self.stage}/{workspace_id}/{destination_id}"


def parse_pixel_host_overrides(text: str) -> Mapping[str, str]:
    """`{"meta": "http://127.0.0.1:4010/meta", ...}`: known platforms to http(s) base URLs (a path prefix is kept)."""
    if not text.strip():
        return MappingProxyType({})
    overrides = json.loads(text)
    if not isinstance(overrides, dict):
        raise ValueError("NIMRIZ_PIXEL_HOST_OVERRIDES must be a JSON object: platform -> base URL")
    for platform, base in overrides.items():
        if platform not in PLATFORM_NAMES:
            raise ValueError(f"NIMRIZ_PIXEL_HOST_OVERRIDES: unknown platform {platform!r}")
        parts = urlsplit(base) if isinstance(base, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(f"NIMRIZ_PIXEL_HOST_OVERRIDES: {platform} needs an http(s) base URL without a query")
    return MappingProxyType({platform: base.rstrip("/") for platform, base in overrides.items()})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings(os.environ)


def load_settings(env: Mapping[str, str]) -> Settings:
    stage = env.get("STAGE", "dev")
    # Local-only knobs (egress and pixel host overrides, a plain token secret) are ignored on any other stage, so
    # a misconfigured deployment can neither redirect traffic or scripts nor sign page tokens with a guessable key.
    local = stage == "local"
    return Settings(
        stage=stage,
        table_name=env.get("TABLE_NAME", ""),
        deliveries_queue_url=env.get("DELIVERIES_QUEUE_URL", ""),
        live_events_queue_url=env.get("LIVE_EVENTS_QUEUE_URL", ""),
        live_events_dlq_url=env.get("LIVE_EVENTS_DLQ_URL", ""),
        recoveries_queue_url=env.get("RECOVERIES_QUEUE_URL", ""),
        secret_prefix=env.get("SECRET_PREFIX", "nimriz-destinations"),
        max_body_bytes=int(env.get("MAX_BODY_BYTES", str(256 * 1024))),
        auth_cache_seconds=int(env.get("AUTH_CACHE_SECONDS", "60")),
        config_cache_seconds=int(env.get("CONFIG_CACHE_SECONDS", "30")),
        # A batch holds at most ten events: ten workspaces each spending a 2 s share use 20 s of FanOutFunction's
        # 30 s timeout and leave a third for queueing jobs. A workspace within its filter budgets (5 ms per event,
        # design §6) routes a full batch in a few hundredths of it.
        fanout_workspace_share_seconds=float(env.get("FANOUT_WORKSPACE_SHARE_SECONDS", "2")),
        egress_overrides_json=env.get("NIMRIZ_EGRESS_OVERRIDES", "") if local else "",
        retry_base_seconds=float(env.get("RETRY_BASE_SECONDS", "60")),
        retry_backoff_factor=float(env.get("RETRY_BACKOFF_FACTOR", "4")),
        retry_max_delay_seconds=float(env.get("RETRY_MAX_DELAY_SECONDS", str(6 * 3600))),
        delivery_log_days=int(env.get("DELIVERY_LOG_DAYS", "30")),
        audit_retention_days=int(env.get("AUDIT_RETENTION_DAYS", "365")),
        request_deadline_seconds=float(env.get("REQUEST_DEADLINE_SECONDS", "15")),
        circuit_failure_threshold=int(env.get("CIRCUIT_FAILURE_THRESHOLD", "5")),
        circuit_cool_down_seconds=float(env.get("CIRCUIT_COOL_DOWN_SECONDS", "30")),
        health_failing_after_failures=int(env.get("HEALTH_FAILING_AFTER_FAILURES", "3")),
        # Like Svix: 5 days without a successful delivery, and enough failures that it is not a quiet spell.
        auto_disable_after_seconds=float(env.get("AUTO_DISABLE_AFTER_SECONDS", str(5 * 24 * 3600))),
        auto_disable_min_failures=int(env.get("AUTO_DISABLE_MIN_FAILURES", "20")),
        hold_max_seconds=float(env.get("HOLD_MAX_SECONDS", str(7 * 24 * 3600))),
        operator_id_key=env.get("OPERATOR_ID_KEY", ""),
        interstitial_token_secret_arn=env.get("INTERSTITIAL_TOKEN_SECRET_ARN", ""),
        interstitial_local_secret=env.get("NIMRIZ_INTERSTITIAL_SECRET", "") if local else "",
        interstitial_page_base_url=env.get("INTERSTITIAL_PAGE_BASE_URL", ""),
        pixel_host_overrides=parse_pixel_host_overrides(env.get("NIMRIZ_PIXEL_HOST_OVERRIDES", "") if local else ""),
    )
