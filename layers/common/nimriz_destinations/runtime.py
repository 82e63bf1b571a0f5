"""Composition root: builds the long-lived objects of an execution environment from settings, once.

Handlers ask here for their dependencies; tests call `reset()` between AWS sandboxes. Imports sit inside
the factories so a function pays only for what it uses at cold start (the authorizer never loads models).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from . import aws
from .settings import get_settings

if TYPE_CHECKING:
    from .delivery.config import CompiledActions, DestinationConfigs
    from .delivery.dispatcher import Dispatcher
    from .delivery.fanout import FanOut
    from .service.api_keys import ApiKeyService
    from .service.audit import AuditLog
    from .service.deliveries import DeliveryService
    from .service.destinations import DestinationService
    from .service.metrics import MetricsService
    from .service.parked_events import ParkedEventService
    from .service.preview import PreviewService
    from .service.quotas import QuotaService
    from .service.recoveries import RecoveryService
    from .storage.api_keys import ApiKeyStore
    from .storage.counters import DeliveryCounters
    from .storage.deliveries import DeliveryLog
    from .storage.queues import DeliveriesQueue, InvalidEventsQueue, LiveEventsQueue, RecoveriesQueue


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
    )


@cache
def audit_log() -> AuditLog:
    from .service.audit import AuditLog
    from .storage.audit import AuditStore

    settings = get_settings()
    return AuditLog(AuditStore(settings.required("table_name"), retention_days=settings.audit_retention_days))


@cache
def api_key_store() -> ApiKeyStore:
    from .storage.api_keys import ApiKeyStore

    settings = get_settings()
    return ApiKeyStore(settings.required("table_name"), cache_seconds=settings.auth_cache_seconds)


@cache
def api_key_service() -> ApiKeyService:
    from .service.api_keys import ApiKeyService

    return ApiKeyService(api_key_store(), audit_log())


@cache
def quota_service() -> QuotaService:
    from .service.quotas import QuotaService
    from .storage.quotas import QuotaStore

    return QuotaService(QuotaStore(get_settings().required("table_name")), audit_log())


@cache
def deliveries_queue() -> DeliveriesQueue:
    from .storage.queues import DeliveriesQueue

    return DeliveriesQueue(get_settings().required("deliveries_queue_url"))


@cache
def live_events_queue() -> LiveEventsQueue:
    from .storage.queues import LiveEventsQueue

    return LiveEventsQueue(get_settings().required("live_events_queue_url"))


@cache
def invalid_events_queue() -> InvalidEventsQueue:
    from .storage.queues import InvalidEventsQueue

    return InvalidEventsQueue(get_settings().required("live_events_dlq_url"))


@cache
def delivery_counters() -> DeliveryCounters:
    from .storage.counters import DeliveryCounters

    return DeliveryCounters(get_settings().required("table_name"))


@cache
def metrics_service() -> MetricsService:
    from .service.metrics import MetricsService
    from .storage.destinations import DestinationStore

    settings = get_settings()
    return MetricsService(DestinationStore(settings.required("table_name")), delivery_counters())


@cache
def parked_event_service() -> ParkedEventService:
    from .service.parked_events import ParkedEventService
    from .storage.parked_events import ParkedEventStore

    settings = get_settings()
    store = ParkedEventStore(settings.required("table_name"), retention_days=settings.delivery_log_days)
    return ParkedEventService(store, lambda bodies: live_events_queue().send_batches(bodies))


@cache
def destination_configs() -> DestinationConfigs:
    from .delivery.config import DestinationConfigs
    from .storage.destinations import DestinationStore
    from .storage.quotas import QuotaStore

    settings = get_settings()
    table = settings.required("table_name")
    return DestinationConfigs(DestinationStore(table), QuotaStore(table), ttl_seconds=settings.config_cache_seconds)


@cache
def compiled_actions() -> CompiledActions:
    from .delivery.config import CompiledActions

    return CompiledActions()


@cache
def fan_out() -> FanOut:
    from .delivery.fanout import FanOut

    return FanOut(
        destination_configs(),
        compiled_actions(),
        delivery_counters(),
        workspace_share_seconds=get_settings().fanout_workspace_share_seconds,
    )


@cache
def delivery_log() -> DeliveryLog:
    from .storage.deliveries import DeliveryLog

    return DeliveryLog(get_settings().required("table_name"))


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
        return_to_queue=lambda returns: deliveries_queue().schedule_returns(returns),
        bookkeeping=bookkeeping,
        hold_max_seconds=settings.hold_max_seconds,
    )


@cache
def delivery_service() -> DeliveryService:
    from .service.deliveries import DeliveryService
    from .storage.destinations import DestinationStore

    settings = get_settings()
    return DeliveryService(
        DestinationStore(settings.required("table_name")),
        delivery_log(),
        lambda jobs: deliveries_queue().send_batches(jobs),
    )


@cache
def recoveries_queue() -> RecoveriesQueue:
    from .storage.queues import RecoveriesQueue

    return RecoveriesQueue(get_settings().required("recoveries_queue_url"))


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
        lambda kind, workspace_id, destination_id, walk_id, delay: recoveries_queue().continue_walk(
            kind, workspace_id, destination_id, walk_id, delay=delay
        ),
        lambda cursor: recoveries_queue().continue_sweep(cursor),
        hold_max_seconds=get_settings().hold_max_seconds,
    )


@cache
def preview_service() -> PreviewService:
    from .service.preview import PreviewService

    return PreviewService(destination_service())


_FACTORIES = (
    preview_service,
    destination_service,
    audit_log,
    api_key_store,
    api_key_service,
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
