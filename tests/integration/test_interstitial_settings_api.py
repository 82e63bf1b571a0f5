"""Saving interstitial settings through the Destinations API: clear 422s from the settings schema, at the exact
paths `service/destinations.py` reports through `settings_problems`."""

from __future__ import annotations

from typing import Any

from tests.browser.builders import settings_body
from tests.conftest import ApiClient

DESTINATIONS = "/api/integrations/destinations"


def create(api: ApiClient, settings: dict[str, Any] | None) -> Any:
    action: dict[str, Any] = {"name": "Pixels", "action_type": "interstitial_settings"}
    if settings is not None:
        action["settings"] = settings
    return api.post(DESTINATIONS, {"name": "Pixels", "type": "ad_pixel_interstitial", "actions": [action]})


def test_a_bad_pixel_id_and_event_are_422s_at_their_exact_paths(api: ApiClient) -> None:
    pixel = {"platform": "meta", "pixel_id": '"><script>', "events": ["Purchase"]}
    response = create(api, settings_body(pixels=[pixel]))
    assert response.status == 422
    assert [d["path"] for d in response.json()["error"]["details"]] == [
        "actions[0].settings.pixels[0].pixel_id",
        "actions[0].settings.pixels[0].events",
    ]


def test_an_interstitial_action_without_settings_is_a_422(api: ApiClient) -> None:
    response = create(api, None)
    assert response.status == 422
    assert [d["path"] for d in response.json()["error"]["details"]] == ["actions[0].settings"]
