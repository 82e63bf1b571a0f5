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
    from .service.destinations import DestinationService
    from .storage.api_keys import ApiKeyStore


@cache
def destination_service() -> DestinationService:
    from .jobs import DeliveryJob
    from .service.destinations import DestinationService
    from .storage.destinations import DestinationStore
    from .storage.secrets import SecretStore

    settings = get_settings()

    def send_delivery_job(job: DeliveryJob) -> None:
        aws.sqs().send_message(QueueUrl=settings.deliveries_queue_url, MessageBody=job.model_dump_json())

    return DestinationService(settings, DestinationStore(settings.table_name), SecretStore(), send_delivery_job)


@cache
def api_key_store() -> ApiKeyStore:
    from .storage.api_keys import ApiKeyStore

    settings = get_settings()
    return ApiKeyStore(settings.table_name, cache_seconds=settings.auth_cache_seconds)


def reset() -> None:
    """Forget every cached object (settings, clients, caches): for tests and the local stack's restarts."""
    from .storage import secrets

    for factory in (destination_service, api_key_store, get_settings):
        factory.cache_clear()
    aws.reset_clients()
    secrets.clear_cache()
