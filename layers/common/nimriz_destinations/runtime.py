"""Composition root: builds the long-lived objects of an execution environment from settings, once.

Handlers ask here for their dependencies; tests call `reset()` between AWS sandboxes. Imports sit inside
the factories so a function pays only for what it uses at cold start (the authorizer never loads models).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from . import aws
from .observability import logger
from .settings import get_settings

if TYPE_CHECKING:
    from .delivery.config import CompiledActions, DestinationConfigs
    from .delivery.dispatcher import Dispatcher
    from .delivery.fanout import FanOut
    from .jobs import DeliveryJob
    from .service.api_keys import ApiKeyService
    from .service.audit import AuditLog
    from .service.deliveries import DeliveryService
    from .service.destinations import DestinationService
    from .service.metrics import MetricsService
    from .service.parked_events import ParkedEventService
    from .service.preview import PreviewService
    from .storage.api_keys import ApiKeyStore
    from .storage.counters import DeliveryCounters
    from .storage.deliveries import DeliveryLog


@cache
def destination_service() -> DestinationService:
    from .service.destinations import DestinationService
    from .storage.destinations import DestinationStore
    from .storage.secrets import SecretStore

    settings = get_settings()

    def send_delivery_job(job: DeliveryJob) -> None:
        aws.sqs().send_message(QueueUrl=settings.deliveries_queue_url, MessageBody=job.model_dump_json())

    return DestinationService(
        settings, DestinationStore(settings.table_name), SecretStore(), send_delivery_job, audit_log()
    )


@cache
def audit_log() -> AuditLog:
    from .service.audit import AuditLog
    from .storage.audit import AuditStore

    settings = get_settings()
    return AuditLog(AuditStore(settings.table_name, retention_days=settings.audit_retention_days))


@cache
def api_key_store() -> ApiKeyStore:
    from .storage.api_keys import ApiKeyStore

    settings = get_settings()
    return ApiKeyStore(settings.table_name, cache_seconds=settings.auth_cache_seconds)


@cache
def api_key_service() -> ApiKeyService:
    from .service.api_keys import ApiKeyService

    return ApiKeyService(api_key_store(), audit_log())


def send_delivery_jobs(jobs: list[DeliveryJob]) -> list[DeliveryJob]:
    """Queue jobs on the Deliveries queue, 10 per call; returns the jobs SQS did not accept."""
    queue_url = get_settings().deliveries_queue_url
    failed: list[DeliveryJob] = []
    for start in range(0, len(jobs), 10):
        chunk = jobs[start : start + 10]
        response = aws.sqs().send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(chunk)],
        )
        failed += [chunk[int(entry["Id"])] for entry in response.get("Failed", [])]
    return failed


# SQS takes up to 10 messages and 256 KiB in one batch call.
_SQS_BATCH_MESSAGES = 10
_SQS_BATCH_BYTES = 256 * 1024


def send_live_events(bodies: list[str]) -> list[int]:
    """Queue raw canonical events on the LiveEvents queue; returns the indexes SQS did not accept."""
    queue_url = get_settings().live_events_queue_url
    failed: list[int] = []
    batch: list[int] = []
    batch_bytes = 0

    def flush() -> None:
        response = aws.sqs().send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(index), "MessageBody": bodies[index]} for index in batch]
        )
        failed.extend(int(entry["Id"]) for entry in response.get("Failed", []))

    for index, body in enumerate(bodies):
        size = len(body.encode())
        if batch and (len(batch) == _SQS_BATCH_MESSAGES or batch_bytes + size > _SQS_BATCH_BYTES):
            flush()
            batch, batch_bytes = [], 0
        batch.append(index)
        batch_bytes += size
    if batch:
        flush()
    return failed


_NOTICE_SEND_ATTEMPTS = 3


class NoticesNotQueued(Exception):
    """SQS kept refusing operational notices."""


def publish_notices(notices: Sequence[dict[str, Any]]) -> None:
    """Put operational notices on the LiveEvents queue, where fan-out routes them like any canonical event."""
    pending = [json.dumps(notice) for notice in notices]
    for _ in range(_NOTICE_SEND_ATTEMPTS):
        if not pending:
            return
        pending = [pending[index] for index in send_live_events(pending)]
    if pending:
        raise NoticesNotQueued(f"{len(pending)} operational notices were not accepted by SQS")


@cache
def delivery_counters() -> DeliveryCounters:
    from .storage.counters import DeliveryCounters

    return DeliveryCounters(get_settings().table_name)


@cache
def metrics_service() -> MetricsService:
    from .service.metrics import MetricsService
    from .storage.destinations import DestinationStore

    settings = get_settings()
    return MetricsService(DestinationStore(settings.table_name), delivery_counters())


@cache
def parked_event_service() -> ParkedEventService:
    from .service.parked_events import ParkedEventService
    from .storage.parked_events import ParkedEventStore

    settings = get_settings()
    store = ParkedEventStore(settings.table_name, retention_days=settings.delivery_log_days)
    return ParkedEventService(store, send_live_events)


@cache
def destination_configs() -> DestinationConfigs:
    from .delivery.config import DestinationConfigs
    from .storage.destinations import DestinationStore

    settings = get_settings()
    return DestinationConfigs(DestinationStore(settings.table_name), ttl_seconds=settings.config_cache_seconds)


@cache
def compiled_actions() -> CompiledActions:
    from .delivery.config import CompiledActions

    return CompiledActions()


@cache
def fan_out() -> FanOut:
    from .delivery.fanout import FanOut

    return FanOut(destination_configs(), compiled_actions(), delivery_counters())


@cache
def delivery_log() -> DeliveryLog:
    from .storage.deliveries import DeliveryLog

    settings = get_settings()
    return DeliveryLog(settings.table_name, retention_days=settings.delivery_log_days)


def return_delivery_jobs(returns: Sequence[tuple[str, int]]) -> None:
    """Set when each returned Deliveries message comes back: (receipt handle, seconds), 10 per call.

    A failure only makes a message come back later, after the queue's own visibility timeout: a retry still
    waits for its time, because the delivery's record holds `next_attempt_at`."""
    queue_url = get_settings().deliveries_queue_url
    for start in range(0, len(returns), 10):
        chunk = returns[start : start + 10]
        entries: Any = [
            {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": delay}
            for index, (receipt, delay) in enumerate(chunk)
        ]
        try:
            failed = aws.sqs().change_message_visibility_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
        except Exception:
            logger.warning("could not set when returned delivery jobs come back", exc_info=True)
            continue
        if failed:
            logger.warning("could not set when some returned delivery jobs come back", extra={"failed": len(failed)})


@cache
def dispatcher() -> Dispatcher:
    from .delivery.circuit import CircuitBreakers
    from .delivery.dispatcher import Dispatcher
    from .delivery.health import HealthKeeper, HealthPolicy
    from .delivery.retry import RetryPolicy
    from .delivery.sender import HttpSender, parse_egress_overrides
    from .storage.destinations import DestinationStore
    from .storage.secrets import SecretStore

    settings = get_settings()
    destinations = DestinationStore(settings.table_name)
    health_policy = HealthPolicy(
        failing_after_failures=settings.health_failing_after_failures,
        disable_after_seconds=settings.auto_disable_after_seconds,
        disable_min_failures=settings.auto_disable_min_failures,
    )
    return Dispatcher(
        configs=destination_configs(),
        compiled=compiled_actions(),
        secrets=SecretStore(),
        log=delivery_log(),
        destinations=destinations,
        health=HealthKeeper(destinations, health_policy, publish_notices),
        counters=delivery_counters(),
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
        return_to_queue=return_delivery_jobs,
    )


@cache
def delivery_service() -> DeliveryService:
    from .service.deliveries import DeliveryService
    from .storage.destinations import DestinationStore

    settings = get_settings()
    return DeliveryService(DestinationStore(settings.table_name), delivery_log(), send_delivery_jobs)


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
    parked_event_service,
    delivery_counters,
    metrics_service,
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
