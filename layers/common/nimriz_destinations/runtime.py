"""Composition root: builds the long-lived objects of an execution environment from settings, once.

Handlers ask here for their dependencies; tests call `reset()` between AWS sandboxes. Imports sit inside
the factories so a function pays only for what it uses at cold start (the authorizer never loads models).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from . import aws
from .settings import get_settings, requires

if TYPE_CHECKING:
    from .delivery.config import CompiledActions, DestinationConfigs
    from .delivery.dispatcher import Dispatcher
    from .delivery.fanout import FanOut
    from .service.api_keys import ApiKeyService
    from .service.audit import AuditLog
    from .service.deliveries import DeliveryService
    from .service.destinations import DestinationService
    from .service.idempotency import IdempotentRequests
    from .service.limits import LimitsService
    from .service.metrics import MetricsService
    from .service.parked_events import ParkedEventService
    from .service.preview import PreviewService
    from .service.quotas import QuotaService
    from .service.recoveries import RecoveryService
    from .service.usage_keys import UsageKeys
    from .service.validation import ValidationService
    from .storage.api_keys import ApiKeyStore
    from .storage.counters import DeliveryCounters
    from .storage.deliveries import DeliveryLog
    from .storage.queues import DeliveriesQueue, InvalidEventsQueue, LiveEventsQueue, RecoveriesQueue


@requires("table_name")
@cache
def audit_log() -> AuditLog:
    from .service.audit import AuditLog
    from .storage.audit import AuditStore

    settings = get_settings()
    return AuditLog(AuditStore(settings.required("table_name"), retention_days=settings.audit_retention_days))


@requires("table_name")
@cache
def idempotent_requests() -> IdempotentRequests:
    from .service.idempotency import IdempotentRequests
    from .storage.idempotency import IdempotencyStore

    return IdempotentRequests(IdempotencyStore(get_settings().required("table_name")), idempotency_key)


@requires("idempotency_secret_arn")
@cache
def idempotency_key() -> bytes:
    """The per-stack key idempotent answers derive their secrets from: read once per execution environment, when a
    request first needs it (never rotated: a replay within 24 hours of a change would fail, design §9.7)."""
    secret_arn = get_settings().required("idempotency_secret_arn")
    return aws.secretsmanager().get_secret_value(SecretId=secret_arn)["SecretString"].encode()


@requires("table_name", uses=[audit_log, idempotent_requests])
@cache
def destination_service() -> DestinationService:
    from .service.destinations import DestinationService
    from .storage.destinations import DestinationStore
    from .storage.quotas import QuotaStore
    from .storage.secrets import SecretStore

    settings = get_settings()
    # A queue is looked up on first use wherever only some of the functions sharing a service have it (here only
    # test-send has the Deliveries queue; the Deliveries DLQ consumer shares the dispatcher but sends nothing).
    return DestinationService(
        settings,
        DestinationStore(settings.required("table_name")),
        SecretStore(),
        lambda job: deliveries_queue().send(job),
        audit_log(),
        QuotaStore(settings.required("table_name")),
        idempotent_requests().derive,
    )


@requires("table_name")
@cache
def api_key_store() -> ApiKeyStore:
    from .storage.api_keys import ApiKeyStore

    settings = get_settings()
    return ApiKeyStore(settings.required("table_name"), cache_seconds=settings.auth_cache_seconds)


@requires(uses=[api_key_store, audit_log, idempotent_requests])
@cache
def api_key_service() -> ApiKeyService:
    from .service.api_keys import ApiKeyService

    return ApiKeyService(api_key_store(), audit_log(), idempotent_requests())


@requires("table_name", uses=[audit_log])
@cache
def quota_service() -> QuotaService:
    from .service.quotas import QuotaService
    from .storage.quotas import QuotaStore

    return QuotaService(QuotaStore(get_settings().required("table_name")), audit_log())


@requires("table_name")
@cache
def usage_keys() -> UsageKeys:
    from .service.usage_keys import UsageKeys
    from .storage.limits import LimitsStore
    from .storage.usage_plans import UsagePlans

    settings = get_settings()
    return UsageKeys(LimitsStore(settings.required("table_name")), UsagePlans(settings.stage), settings.stage)


@requires("table_name", uses=[usage_keys, audit_log])
@cache
def limits_service() -> LimitsService:
    from .service.limits import LimitsService
    from .storage.limits import LimitsStore
    from .storage.usage_plans import UsagePlans

    settings = get_settings()
    store = LimitsStore(settings.required("table_name"))
    return LimitsService(store, UsagePlans(settings.stage), usage_keys(), audit_log())


@requires("deliveries_queue_url")
@cache
def deliveries_queue() -> DeliveriesQueue:
    from .storage.queues import DeliveriesQueue

    return DeliveriesQueue(get_settings().required("deliveries_queue_url"))


@requires("released_deliveries_queue_url")
@cache
def released_deliveries_queue() -> DeliveriesQueue:
    """The FIFO queue a resume's released deliveries go out through, in order per destination (design §2.2)."""
    from .storage.queues import DeliveriesQueue

    return DeliveriesQueue(get_settings().required("released_deliveries_queue_url"), ordered=True)


@requires("live_events_queue_url")
@cache
def live_events_queue() -> LiveEventsQueue:
    from .storage.queues import LiveEventsQueue

    return LiveEventsQueue(get_settings().required("live_events_queue_url"))


@requires("live_events_dlq_url")
@cache
def invalid_events_queue() -> InvalidEventsQueue:
    from .storage.queues import InvalidEventsQueue

    return InvalidEventsQueue(get_settings().required("live_events_dlq_url"))


@requires("table_name")
@cache
def delivery_counters() -> DeliveryCounters:
    from .storage.counters import DeliveryCounters

    return DeliveryCounters(get_settings().required("table_name"))


@requires("table_name", uses=[delivery_counters])
@cache
def metrics_service() -> MetricsService:
    from .service.metrics import MetricsService
    from .storage.deliveries import DeliveryLog
    from .storage.destinations import DestinationStore

    settings = get_settings()
    table = settings.required("table_name")
    return MetricsService(DestinationStore(table), delivery_counters(), DeliveryLog(table))


@requires("table_name")
@cache
def parked_event_service() -> ParkedEventService:
    from .service.parked_events import ParkedEventService
    from .storage.parked_events import ParkedEventStore

    settings = get_settings()
    store = ParkedEventStore(settings.required("table_name"), retention_days=settings.delivery_log_days)
    return ParkedEventService(store, lambda bodies: live_events_queue().send_batches(bodies), audit_log())


@requires("table_name")
@cache
def destination_configs() -> DestinationConfigs:
    from .delivery.config import DestinationConfigs
    from .storage.destinations import DestinationStore
    from .storage.quotas import QuotaStore

    settings = get_settings()
    table = settings.required("table_name")
    return DestinationConfigs(DestinationStore(table), QuotaStore(table), ttl_seconds=settings.config_cache_seconds)


@requires()
@cache
def compiled_actions() -> CompiledActions:
    from .delivery.config import CompiledActions

    return CompiledActions()


@requires(uses=[destination_configs, compiled_actions, delivery_counters])
@cache
def fan_out() -> FanOut:
    from .delivery.fanout import FanOut

    return FanOut(
        destination_configs(),
        compiled_actions(),
        delivery_counters(),
        workspace_share_seconds=get_settings().fanout_workspace_share_seconds,
    )


@requires("table_name")
@cache
def delivery_log() -> DeliveryLog:
    from .storage.deliveries import DeliveryLog

    return DeliveryLog(get_settings().required("table_name"))


# The queues are looked up on first use: the Deliveries DLQ consumer shares the dispatcher but sends nothing.
@requires("table_name", uses=[audit_log, destination_configs, compiled_actions, delivery_counters])
@cache
def dispatcher() -> Dispatcher:
    from concurrent.futures import ThreadPoolExecutor

    from .delivery.circuit import CircuitBreakers
    from .delivery.dispatcher import BOOKKEEPING_THREADS, Dispatcher
    from .delivery.health import HealthKeeper, HealthPolicy
    from .delivery.planning import Planner
    from .delivery.retry import RetryPolicy
    from .delivery.sender import HttpSender, parse_egress_overrides
    from .delivery.tallies import Tallies
    from .storage.delivery_states import DeliveryStates
    from .storage.destinations import DestinationStore
    from .storage.rate_buckets import RateBuckets
    from .storage.secrets import SecretStore

    settings = get_settings()
    table = settings.required("table_name")
    destinations = DestinationStore(table)
    health_policy = HealthPolicy(
        failing_after_failures=settings.health_failing_after_failures,
        disable_after_seconds=settings.auto_disable_after_seconds,
        disable_min_failures=settings.auto_disable_min_failures,
    )
    health = HealthKeeper(
        destinations, health_policy, lambda notices: live_events_queue().publish_notices(notices), audit_log()
    )
    bookkeeping = ThreadPoolExecutor(max_workers=BOOKKEEPING_THREADS, thread_name_prefix="record")
    return Dispatcher(
        planner=Planner(destination_configs(), compiled_actions(), SecretStore()),
        states=DeliveryStates(table, retention_days=settings.delivery_log_days),
        destinations=destinations,
        tallies=Tallies(health, delivery_counters(), bookkeeping),
        sender=HttpSender(
            allow_loopback=settings.is_local,
            egress_overrides=parse_egress_overrides(settings.egress_overrides_json),
            deadline_seconds=settings.request_deadline_seconds,
        ),
        retry=RetryPolicy(
            base_seconds=settings.retry_base_seconds,
            factor=settings.retry_backoff_factor,
            max_delay_seconds=settings.retry_max_delay_seconds,
        ),
        circuits=CircuitBreakers(
            threshold=settings.circuit_failure_threshold, cool_down_seconds=settings.circuit_cool_down_seconds
        ),
        return_to_queue=lambda returns, ordered: (
            released_deliveries_queue() if ordered else deliveries_queue()
        ).schedule_returns(returns),
        send_later=lambda jobs: deliveries_queue().send_later(jobs),
        bookkeeping=bookkeeping,
        hold_max_seconds=settings.hold_max_seconds,
        rate_buckets=RateBuckets(table),
    )


@requires("table_name", uses=[delivery_log])
@cache
def delivery_service() -> DeliveryService:
    from .service.deliveries import DeliveryService
    from .storage.destinations import DestinationStore

    settings = get_settings()
    return DeliveryService(
        DestinationStore(settings.required("table_name")),
        delivery_log(),
        lambda jobs: deliveries_queue().send_batches(jobs),
        audit_log(),
    )


@requires("recoveries_queue_url")
@cache
def recoveries_queue() -> RecoveriesQueue:
    from .storage.queues import RecoveriesQueue

    return RecoveriesQueue(get_settings().required("recoveries_queue_url"))


# The queues are needed only by what releases or recovers (not pause): those handlers check them too.
@requires("table_name", uses=[delivery_log, audit_log])
@cache
def recovery_service() -> RecoveryService:
    from .service.recoveries import RecoveryService
    from .storage.destinations import DestinationStore
    from .storage.recoveries import RecoveryStore

    table = get_settings().required("table_name")
    return RecoveryService(
        DestinationStore(table),
        RecoveryStore(table),
        delivery_log(),
        audit_log(),
        lambda jobs, again: deliveries_queue().send_batches(jobs, again=again),
        lambda jobs, again, release_id: released_deliveries_queue().send_batches(
            jobs, again=again, release_id=release_id
        ),
        lambda kind, workspace_id, destination_id, walk_id, delay: recoveries_queue().continue_walk(
            kind, workspace_id, destination_id, walk_id, delay=delay
        ),
        lambda cursor: recoveries_queue().continue_sweep(cursor),
        hold_max_seconds=get_settings().hold_max_seconds,
        release_sweep_delay_seconds=get_settings().release_sweep_delay_seconds,
    )


@requires(uses=[destination_service])
@cache
def preview_service() -> PreviewService:
    from .service.preview import PreviewService

    return PreviewService(destination_service())


@requires(uses=[destination_service])
@cache
def validation_service() -> ValidationService:
    from .delivery.sender import HttpSender, parse_egress_overrides
    from .service.validation import (
        CONNECT_TIMEOUT_SECONDS,
        READ_TIMEOUT_SECONDS,
        REQUEST_DEADLINE_SECONDS,
        ValidationService,
    )

    settings = get_settings()
    sender = HttpSender(
        allow_loopback=settings.is_local,
        egress_overrides=parse_egress_overrides(settings.egress_overrides_json),
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        deadline_seconds=REQUEST_DEADLINE_SECONDS,
    )
    return ValidationService(destination_service(), sender)


_FACTORIES = (
    preview_service,
    validation_service,
    destination_service,
    audit_log,
    api_key_store,
    api_key_service,
    usage_keys,
    limits_service,
    idempotent_requests,
    idempotency_key,
    destination_configs,
    compiled_actions,
    fan_out,
    delivery_log,
    dispatcher,
    delivery_service,
    recovery_service,
    recoveries_queue,
    parked_event_service,
    delivery_counters,
    metrics_service,
    deliveries_queue,
    released_deliveries_queue,
    live_events_queue,
    invalid_events_queue,
    get_settings,
)


def reset() -> None:
    """Forget every cached object (settings, clients, caches): for tests and the local stack's restarts."""
    from .interstitial import runtime as interstitial_runtime
    from .providers import oauth
    from .storage import secrets

    for factory in _FACTORIES:
        factory.cache_clear()
    interstitial_runtime.reset()
    aws.reset_clients()
    secrets.clear_cache()
    oauth.forget_all_tokens()
