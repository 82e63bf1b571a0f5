"""The one place that reads the process environment.

Everything else receives a `Settings` value; domain code never touches `os.environ`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str
    table_name: str
    deliveries_queue_url: str
    live_events_queue_url: str
    live_events_dlq_url: str
    secret_prefix: str
    max_body_bytes: int
    auth_cache_seconds: int
    config_cache_seconds: int
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

    @property
    def is_local(self) -> bool:
        # Loopback egress and plain http are only ever allowed on the local stack.
        return self.stage == "local"

    def secret_name(self, workspace_id: str, destination_id: str) -> str:
        return f"{self.secret_prefix}/{self.stage}/{workspace_id}/{destination_id}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("STAGE", "dev"),
        table_name=env.get("TABLE_NAME", ""),
        deliveries_queue_url=env.get("DELIVERIES_QUEUE_URL", ""),
        live_events_queue_url=env.get("LIVE_EVENTS_QUEUE_URL", ""),
        live_events_dlq_url=env.get("LIVE_EVENTS_DLQ_URL", ""),
        secret_prefix=env.get("SECRET_PREFIX", "nimriz-destinations"),
        max_body_bytes=int(env.get("MAX_BODY_BYTES", str(256 * 1024))),
        auth_cache_seconds=int(env.get("AUTH_CACHE_SECONDS", "60")),
        config_cache_seconds=int(env.get("CONFIG_CACHE_SECONDS", "30")),
        # Egress overrides redirect provider traffic to local sinks: honoured on the local stack only.
        egress_overrides_json=env.get("NIMRIZ_EGRESS_OVERRIDES", "") if env.get("STAGE") == "local" else "",
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
    )
