"""The one place that reads the process environment.

Everything else receives a `Settings` value; domain code never touches `os.environ`. Each variable is declared
once below (`_VARIABLES`: name, default, what it must be). A function checks its settings when its handler module
loads (`check_settings`, called by `api/app.py`'s resolvers and the other handlers with the composition-root
factories they use): every malformed variable, and every variable those factories need that is unset, named in
one `InvalidSettings` error, so a bad deployment fails at cold start instead of on some later request.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from .interstitial.platforms import PLATFORM_NAMES

# Settings without a usable default: the factories that need one declare it (`requires`), so a missing variable
# stops the function at cold start with its name instead of failing later on an empty queue URL or table name.
RequiredSetting = Literal[
    "table_name",
    "deliveries_queue_url",
    "live_events_queue_url",
    "live_events_dlq_url",
    "idempotency_secret_arn",
    "operator_id_key",
    "recoveries_queue_url",
    "released_deliveries_queue_url",
]
_REQUIRED_VARIABLES: dict[RequiredSetting, str] = {
    "table_name": "TABLE_NAME",
    "deliveries_queue_url": "DELIVERIES_QUEUE_URL",
    "live_events_queue_url": "LIVE_EVENTS_QUEUE_URL",
    "live_events_dlq_url": "LIVE_EVENTS_DLQ_URL",
    "idempotency_secret_arn": "IDEMPOTENCY_SECRET_ARN",
    "operator_id_key": "OPERATOR_ID_KEY",
    "recoveries_queue_url": "RECOVERIES_QUEUE_URL",
    "released_deliveries_queue_url": "RELEASED_DELIVERIES_QUEUE_URL",
}


class InvalidSettings(RuntimeError):
    """Variables of the function's environment that are missing or malformed, every one named in the message."""


class MissingSetting(InvalidSettings):
    """A variable the function needs is not set in its environment."""


@dataclass(frozen=True, slots=True)
class Settings:
    stage: str
    table_name: str
    deliveries_queue_url: str
    live_events_queue_url: str
    live_events_dlq_url: str
    recoveries_queue_url: str
    released_deliveries_queue_url: str
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
    # After a release's last page, how long until it reads the held index once more (design §2.2, "Resume").
    release_sweep_delay_seconds: int
    # Keys the hash that names admins in tenants' audit logs (audit.admin_actor): per deployment, never shown.
    operator_id_key: str
    # Secrets Manager secret keying what idempotent answers derive their secrets from (service/idempotency.py)
    idempotency_secret_arn: str
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


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError
        return value

    return parse


def _number(*, positive: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError
        return value

    return parse


@dataclass(frozen=True, slots=True)
class _Variable:
    name: str
    default: str  # "" for a variable without a usable default (a RequiredSetting) or an optional one
    parse: Callable[[str], Any]
    must_be: str
    local_only: bool = False  # honoured on the local stage only; its default everywhere else


def _text(name: str, default: str = "", *, local_only: bool = False) -> _Variable:
    return _Variable(name, default, str, "text", local_only)


# Every variable, once: the field of `Settings` it sets, its default and what it must be (README, "Configuration").
_VARIABLES: dict[str, _Variable] = {
    "table_name": _text("TABLE_NAME"),
    "deliveries_queue_url": _text("DELIVERIES_QUEUE_URL"),
    "live_events_queue_url": _text("LIVE_EVENTS_QUEUE_URL"),
    "live_events_dlq_url": _text("LIVE_EVENTS_DLQ_URL"),
    "recoveries_queue_url": _text("RECOVERIES_QUEUE_URL"),
    "released_deliveries_queue_url": _text("RELEASED_DELIVERIES_QUEUE_URL"),
    "secret_prefix": _text("SECRET_PREFIX", "nimriz-destinations"),
    "max_body_bytes": _Variable("MAX_BODY_BYTES", str(256 * 1024), _whole(1), "a whole number of bytes, at least 1"),
    "auth_cache_seconds": _Variable("AUTH_CACHE_SECONDS", "60", _whole(0), "a whole number of seconds, 0 or more"),
    "config_cache_seconds": _Variable("CONFIG_CACHE_SECONDS", "30", _whole(0), "a whole number of seconds, 0 or more"),
    # A batch holds at most ten events: ten workspaces each spending a 2 s share use 20 s of FanOutFunction's 30 s
    # timeout and leave a third for queueing jobs. A workspace within its filter budgets (5 ms per event, design §6)
    # routes a full batch in a few hundredths of it.
    "fanout_workspace_share_seconds": _Variable(
        "FANOUT_WORKSPACE_SHARE_SECONDS", "2", _number(positive=True), "a number of seconds above 0"
    ),
    "egress_overrides_json": _text("NIMRIZ_EGRESS_OVERRIDES", local_only=True),
    "retry_base_seconds": _Variable("RETRY_BASE_SECONDS", "60", _number(positive=True), "a number of seconds above 0"),
    "retry_backoff_factor": _Variable("RETRY_BACKOFF_FACTOR", "4", _number(positive=True), "a number above 0"),
    "retry_max_delay_seconds": _Variable(
        "RETRY_MAX_DELAY_SECONDS", str(6 * 3600), _number(positive=True), "a number of seconds above 0"
    ),
    "delivery_log_days": _Variable("DELIVERY_LOG_DAYS", "30", _whole(1), "a whole number of days, at least 1"),
    "audit_retention_days": _Variable("AUDIT_RETENTION_DAYS", "365", _whole(1), "a whole number of days, at least 1"),
    "request_deadline_seconds": _Variable(
        "REQUEST_DEADLINE_SECONDS", "15", _number(positive=True), "a number of seconds above 0"
    ),
    "circuit_failure_threshold": _Variable("CIRCUIT_FAILURE_THRESHOLD", "5", _whole(1), "a whole number, at least 1"),
    "circuit_cool_down_seconds": _Variable(
        "CIRCUIT_COOL_DOWN_SECONDS", "30", _number(positive=True), "a number of seconds above 0"
    ),
    "health_failing_after_failures": _Variable(
        "HEALTH_FAILING_AFTER_FAILURES", "3", _whole(1), "a whole number, at least 1"
    ),
    # Like Svix: 5 days without a successful delivery, and enough failures that it is not a quiet spell.
    "auto_disable_after_seconds": _Variable(
        "AUTO_DISABLE_AFTER_SECONDS", str(5 * 24 * 3600), _number(positive=True), "a number of seconds above 0"
    ),
    "auto_disable_min_failures": _Variable("AUTO_DISABLE_MIN_FAILURES", "20", _whole(1), "a whole number, at least 1"),
    # 0 holds nothing past its first release or sweep: every held delivery is dead-lettered `hold_expired` then.
    "hold_max_seconds": _Variable("HOLD_MAX_SECONDS", str(7 * 24 * 3600), _number(), "a number of seconds, 0 or more"),
    # An SQS message delay: 900 s at most.
    "release_sweep_delay_seconds": _Variable(
        "RELEASE_SWEEP_DELAY_SECONDS", "10", _whole(0, 900), "a whole number of seconds from 0 to 900"
    ),
    "operator_id_key": _text("OPERATOR_ID_KEY"),
    "idempotency_secret_arn": _text("IDEMPOTENCY_SECRET_ARN"),
    "interstitial_token_secret_arn": _text("INTERSTITIAL_TOKEN_SECRET_ARN"),
    "interstitial_local_secret": _text("NIMRIZ_INTERSTITIAL_SECRET", local_only=True),
    "interstitial_page_base_url": _text("INTERSTITIAL_PAGE_BASE_URL"),
    "pixel_host_overrides": _Variable(
        "NIMRIZ_PIXEL_HOST_OVERRIDES",
        "",
        lambda text: parse_pixel_host_overrides(text),
        "a JSON object of known platforms to http(s) base URLs without a query",
        local_only=True,
    ),
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings(os.environ)


def load_settings(env: Mapping[str, str]) -> Settings:
    """The settings `env` sets; raises `InvalidSettings` naming every malformed variable."""
    settings, malformed = _parsed(env)
    if settings is None:
        raise InvalidSettings(_message(malformed))
    return settings


def _parsed(env: Mapping[str, str]) -> tuple[Settings | None, list[str]]:
    stage = env.get("STAGE", "dev")
    # Local-only knobs (egress and pixel host overrides, a plain token secret) are ignored on any other stage, so
    # a misconfigured deployment can neither redirect traffic or scripts nor sign page tokens with a guessable key.
    values: dict[str, Any] = {"stage": stage}
    malformed = []
    for field, variable in _VARIABLES.items():
        honoured = stage == "local" or not variable.local_only
        text = env.get(variable.name, variable.default) if honoured else variable.default
        try:
            values[field] = variable.parse(text)
        except ValueError:
            # The value is shown: only numbers and JSON maps can be malformed, and neither holds a secret.
            malformed.append(f"{variable.name}={text!r} must be {variable.must_be}")
    return (Settings(**values) if not malformed else None), malformed


def _message(problems: list[str]) -> str:
    return "invalid settings: " + "; ".join(problems)


# What each composition-root factory needs set (`requires`): its own settings and those of the factories it uses.
_FACTORY_SETTINGS: dict[Callable[[], Any], tuple[RequiredSetting, ...]] = {}


def requires[F: Callable[[], Any]](
    *settings: RequiredSetting, uses: Iterable[Callable[[], Any]] = ()
) -> Callable[[F], F]:
    """Declare what a factory needs set: `settings` of its own and those of the factories it builds on."""

    def declare(factory: F) -> F:
        needed = dict.fromkeys(settings)
        for used in uses:
            needed.update(dict.fromkeys(_FACTORY_SETTINGS[used]))
        _FACTORY_SETTINGS[factory] = tuple(needed)
        return factory

    return declare


def required_settings(*factories: Callable[[], Any]) -> list[str]:
    """The variables `factories` need set, by name (for the template test and `check_settings`)."""
    needed = dict.fromkeys(name for factory in factories for name in _FACTORY_SETTINGS[factory])
    return [_REQUIRED_VARIABLES[name] for name in needed]


def check_settings(*factories: Callable[[], Any], also: Iterable[RequiredSetting] = ()) -> Settings:
    """At a function's cold start: its settings, or one `InvalidSettings` naming every variable that is malformed
    and every one that `factories` (and `also`) need and the environment leaves unset."""
    needed = [*required_settings(*factories), *(_REQUIRED_VARIABLES[name] for name in also)]
    missing = [f"{variable} is not set" for variable in dict.fromkeys(needed) if not os.environ.get(variable)]
    settings, malformed = _parsed(os.environ)
    if missing or settings is None:
        raise InvalidSettings(_message(missing + malformed))
    return settings
