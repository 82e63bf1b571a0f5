"""PostHog capture / batch API (cloud or self-hosted host)."""

from __future__ import annotations

from .base import Credentials, HttpsUrl, Provider, SecretStr


class PostHogCredentials(Credentials):
    api_key: SecretStr
    host: HttpsUrl = "https://us.i.posthog.com"


class PostHog(Provider):
    destination_type = "posthog"
    action_types = frozenset({"send_event"})
    credentials_model = PostHogCredentials
    url_fields = ("host",)


PROVIDER = PostHog()
