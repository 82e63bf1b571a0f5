"""Composition root: builds the long-lived objects of an execution environment from settings, once.

Handlers ask here for their dependencies; tests call `reset()` between AWS sandboxes.
"""

from __future__ import annotations

from functools import cache

from . import aws
from .jobs import DeliveryJob
from .service.destinations import DestinationService
from .settings import get_settings
from .storage import secrets
from .storage.api_keys import ApiKeyStore
from .storage.destinations import DestinationStore
from .storage.secrets import SecretStore


@cache
def destination_service() -> DestinationService:
    settings = get_settings()

    def send_delivery_job(job: DeliveryJob) -> None:
        aws.sqs().send_message(QueueUrl=settings.deliveries_queue_url, MessageBody=job.model_dump_json())

    return DestinationService(settings, DestinationStore(settings.table_name), SecretStore(), send_delivery_job)


@cache
def api_key_store() -> ApiKeyStore:
    settings = get_settings()
    return ApiKeyStore(settings.table_name, cache_seconds=settings.auth_cache_seconds)


def reset() -> None:
    """Forget every cached object (settings, clients, caches): for tests and the local stack's restarts."""
    for factory in (destination_service, api_key_store, get_settings):
        factory.cache_clear()
    aws.reset_clients()
    secrets.clear_cache()
