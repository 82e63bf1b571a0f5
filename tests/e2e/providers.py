"""One sink per provider for the end-to-end run: the local stack's provider traffic goes to them through
NIMRIZ_EGRESS_OVERRIDES, and each answers like its provider (after checking the request as it would)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nimriz_destinations.providers.google_ads import API_VERSION as GOOGLE_ADS_VERSION
from nimriz_destinations.providers.linkedin import LINKEDIN_VERSION
from nimriz_destinations.providers.meta import GRAPH_API_VERSION
from tests.sinks.amplitude import amplitude_sink
from tests.sinks.ga4 import GA4Sink
from tests.sinks.google_ads import GoogleAdsSink
from tests.sinks.gtm_server_side import gtm_container_sink
from tests.sinks.linkedin import LinkedInSink
from tests.sinks.meta import MetaSink
from tests.sinks.mixpanel import mixpanel_sink
from tests.sinks.posthog import posthog_sink
from tests.sinks.segment import segment_sink
from tests.sinks.server import SinkHandler
from tests.sinks.tiktok import TikTokSink


@dataclass(frozen=True)
class ProviderSetup:
    credentials: dict[str, Any]
    handler: Callable[[], SinkHandler]
    action_type: str


GOOGLE_ADS = {
    "customer_id": "1234567890",
    "conversion_action_id": "987654321",
    "developer_token": "e2e-developer-token",
    "client_id": "e2e-client.apps.googleusercontent.com",
    "client_secret": "e2e-client-secret",
    "refresh_token": "1//e2e-refresh-token",
    "ad_user_data_consent": "granted",
}
LINKEDIN = {
    "refresh_token": "AQW-e2e-refresh-token",
    "client_id": "e2e-linkedin-client",
    "client_secret": "e2e-linkedin-client-secret",
    "conversion_rule_id": "104012",
}

PROVIDERS: dict[str, ProviderSetup] = {
    "segment": ProviderSetup(
        {"write_key": "seg_e2e_write_key_0123456789"},
        lambda: segment_sink("seg_e2e_write_key_0123456789"),
        "send_event",
    ),
    "ga4": ProviderSetup(
        {"measurement_id": "G-E2E123456", "api_secret": "e2e-ga4-secret"},
        lambda: GA4Sink(measurement_id="G-E2E123456", api_secret="e2e-ga4-secret"),
        "send_event",
    ),
    "gtm_server_side": ProviderSetup(
        {"container_url": "https://sgtm.example.com", "measurement_id": "G-SGTM12345", "api_secret": "e2e-gtm"},
        lambda: gtm_container_sink("G-SGTM12345", "e2e-gtm"),
        "send_event",
    ),
    "amplitude": ProviderSetup(
        {"api_key": "e2e-amplitude-key"}, lambda: amplitude_sink("e2e-amplitude-key"), "send_event"
    ),
    "posthog": ProviderSetup(
        {"api_key": "phc_e2e_posthog_key", "host": "https://eu.i.posthog.com"},
        lambda: posthog_sink("phc_e2e_posthog_key"),
        "send_event",
    ),
    "mixpanel": ProviderSetup(
        {
            "project_token": "e2e-mixpanel-token",
            "project_id": "4242",
            "service_account_username": "sa.nimriz",
            "service_account_secret": "sa-secret",
        },
        lambda: mixpanel_sink("e2e-mixpanel-token", "4242", "sa.nimriz", "sa-secret"),
        "send_event",
    ),
    "meta": ProviderSetup(
        {"pixel_id": "123456789012345", "access_token": "EAAB-e2e-token"},
        lambda: MetaSink(pixel_id="123456789012345", access_token="EAAB-e2e-token", version=GRAPH_API_VERSION),
        "send_conversion",
    ),
    "google_ads": ProviderSetup(
        GOOGLE_ADS,
        lambda: GoogleAdsSink(
            customer_id=GOOGLE_ADS["customer_id"],
            developer_token=GOOGLE_ADS["developer_token"],
            client_id=GOOGLE_ADS["client_id"],
            client_secret=GOOGLE_ADS["client_secret"],
            refresh_token=GOOGLE_ADS["refresh_token"],
            version=GOOGLE_ADS_VERSION,
        ),
        "send_conversion",
    ),
    "linkedin": ProviderSetup(
        LINKEDIN,
        lambda: LinkedInSink(
            access_token=None,  # only tokens obtained with the refresh token work
            conversion_rule_urn="urn:lla:llaPartnerConversion:104012",
            versions=frozenset({LINKEDIN_VERSION}),
            client_id=LINKEDIN["client_id"],
            client_secret=LINKEDIN["client_secret"],
            refresh_token=LINKEDIN["refresh_token"],
        ),
        "send_conversion",
    ),
    "tiktok": ProviderSetup(
        {"pixel_code": "C4E2EPIXEL12345", "access_token": "e2e-tiktok-token"},
        lambda: TikTokSink(pixel_code="C4E2EPIXEL12345", access_token="e2e-tiktok-token"),
        "send_conversion",
    ),
}
