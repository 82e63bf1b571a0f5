"""Request bodies for tests: valid credentials per destination type, with recognisable secret values."""

from __future__ import annotations

from typing import Any

from nimriz_destinations.providers import DESTINATION_TYPES, get_provider

SECRET_MARK = "SeCrEt"

# Every secret value contains SECRET_MARK so a test can scan responses and logs for leaks.
VALID_CREDENTIALS: dict[str, dict[str, Any]] = {
    "segment": {"write_key": f"seg_{SECRET_MARK}_write_key_f3a1"},
    "ga4": {"measurement_id": "G-ABC123XYZ", "api_secret": f"{SECRET_MARK}_ga4_api_secret_9f"},
    "amplitude": {"api_key": f"{SECRET_MARK}_amplitude_key_0001", "region": "eu"},
    "posthog": {"api_key": f"phc_{SECRET_MARK}_posthog_key_77", "host": "https://eu.i.posthog.com"},
    "mixpanel": {
        "project_token": f"{SECRET_MARK}_mixpanel_token_42",
        "project_id": "123456",
        "service_account_username": f"sa.{SECRET_MARK}.user",
        "service_account_secret": f"{SECRET_MARK}_mixpanel_sa_secret",
    },
    "gtm_server_side": {
        "container_url": "https://sgtm.example.com",
        "measurement_id": "G-SGTM12345",
        "api_secret": f"{SECRET_MARK}_gtm_secret_55",
    },
    "meta": {
        "pixel_id": "123456789012345",
        "access_token": f"EAAB{SECRET_MARK}_meta_token",
        "test_event_code": "TEST123",
    },
    "google_ads": {
        "customer_id": "123-456-7890",
        "conversion_action_id": "987654321",
        "developer_token": f"{SECRET_MARK}_dev_token_x",
        "client_id": "1234.apps.googleusercontent.com",
        "client_secret": f"{SECRET_MARK}_client_secret_y",
        "refresh_token": f"1//{SECRET_MARK}_refresh_token_z",
    },
    "linkedin": {"access_token": f"AQV{SECRET_MARK}_linkedin_token", "conversion_rule_id": "104"},
    "tiktok": {"pixel_code": "C4ABCDEFGHIJ1234", "access_token": f"{SECRET_MARK}_tiktok_token_1"},
    "generic_http": {
        "url": "https://hooks.example.com/nimriz",
        "method": "POST",
        "headers": {"Authorization": f"Bearer {SECRET_MARK}_header_token"},
        "signing_secret": f"whsec_{SECRET_MARK}_signing_0123",
    },
    "ad_pixel_interstitial": {},
}


def _only_action_type(destination_type: str) -> str:
    """The action type a test destination is created with: the one its provider supports (a provider with several
    would need the tests to choose, so it fails here)."""
    (action_type,) = get_provider(destination_type).action_types
    return action_type


ACTION_TYPE_FOR: dict[str, str] = {
    destination_type: _only_action_type(destination_type) for destination_type in DESTINATION_TYPES
}

# The create body of the API reference (seed), verbatim.
SEED_CREATE_BODY: dict[str, Any] = {
    "name": "Segment events",
    "type": "segment",
    "enabled": True,
    "credentials": {"write_key": "seg_..."},
    "actions": [
        {
            "name": "Send event",
            "action_type": "send_event",
            "enabled": True,
            "property_mapping": {"base": "default", "overrides": []},
            "event_filter": {
                "include": {"event_types": ["link.clicked", "link.qr_scanned"]},
                "exclude": {"bot_traffic": True},
                "conditions": [],
            },
        }
    ],
}


def action_body(action_type: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"{action_type} action", "action_type": action_type, "enabled": True}
    if action_type == "send_conversion":
        body["event_filter"] = {"include": {"event_types": ["conversion.lead", "conversion.sale"]}}
    if action_type == "interstitial_settings":
        body["settings"] = INTERSTITIAL_SETTINGS
    body.update(overrides)
    return body


INTERSTITIAL_SETTINGS: dict[str, Any] = {
    "pixels": [{"platform": "meta", "pixel_id": "123456789012345", "events": ["PageView"]}],
    "delay_ms": 800,
    "consent": {
        "required": True,
        "notice": "We use ad pixels for this campaign.",
        "on_decline": "continue_without_pixels",
    },
}


def destination_body(destination_type: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{destination_type} destination",
        "type": destination_type,
        "credentials": dict(VALID_CREDENTIALS[destination_type]),
        "actions": [action_body(ACTION_TYPE_FOR[destination_type])],
    }
    if destination_type == "ad_pixel_interstitial":
        del body["credentials"]
    body.update(overrides)
    return body
