"""POST /api/integrations/interstitial/resolve and GET /i/{token} on moto, through the API Gateway stand-in.

Destinations are created through the API; resolve is called with a workspace key (the authorizer's context comes
from it), the page without any, as its route is public.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from nimriz_destinations import aws
from nimriz_destinations.interstitial import runtime as interstitial_runtime
from nimriz_destinations.interstitial.token import verify_token
from tests.browser.builders import SECRET_TEXT, settings_body
from tests.conftest import ApiClient, ApiResponse

RESOURCE = "/api/integrations/interstitial/resolve"
DESTINATIONS = "/api/integrations/destinations"
DOMAIN = "7e2f4c1a-9b3d-4e8f-a6c5-1d0b2e3f4a5b"
TAG = "5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c"
LINK = {
    "url_id": "0b9a3c3e-5d1f-4a7e-9a57-3f0c8f1d2b64",
    "domain_id": DOMAIN,
    "space_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
    "tag_ids": [TAG],
    "country": "DE",
    "destination_url": "https://shop.example.com/spring?utm_source=ig",
}


@pytest.fixture(autouse=True)
def interstitial_env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NIMRIZ_INTERSTITIAL_SECRET", SECRET_TEXT)
    interstitial_runtime.reset()
    yield
    interstitial_runtime.reset()


def create_interstitial(api: ApiClient, *actions: dict[str, Any]) -> dict[str, Any]:
    body = {"name": "Campaign pixels", "type": "ad_pixel_interstitial", "actions": list(actions)}
    response = api.post(DESTINATIONS, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def interstitial_action(event_filter: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    return {
        "name": "Show pixels",
        "action_type": "interstitial_settings",
        "event_filter": event_filter or {},
        "settings": settings_body(**settings),
    }


def resolve(api: ApiClient, body: dict[str, Any]) -> ApiResponse:
    return api.post(RESOURCE, body)


def open_page(api: ApiClient, token: str) -> ApiResponse:
    return api.get(f"/i/{token}", key=None)


def test_a_matching_link_gets_the_merged_pixels_a_signed_token_and_the_page_url(api: ApiClient) -> None:
    create_interstitial(
        api,
        interstitial_action(
            {"include": {"domain_ids": [DOMAIN]}},
            pixels=[{"platform": "meta", "pixel_id": "123456789012345", "events": ["PageView"]}],
            delay_ms=500,
            consent={"required": False},
        ),
    )
    create_interstitial(
        api,
        interstitial_action(
            {"include": {"tag_ids": [TAG], "countries": ["DE", "AT"]}},
            pixels=[
                {"platform": "meta", "pixel_id": "123456789012345", "events": ["ViewContent"]},
                {"platform": "tiktok", "pixel_id": "CABCDEFGHIJKLMNOPQ12", "events": ["PageView"]},
            ],
            delay_ms=1500,
            consent={"required": True, "notice": "We load ad pixels.", "accept_label": "OK"},
        ),
    )

    response = resolve(api, LINK)

    assert response.status == 200, response.text
    interstitial = response.json()["interstitial"]
    assert interstitial["pixels"] == [
        {"platform": "meta", "pixel_id": "123456789012345", "events": ["PageView", "ViewContent"]},
        {"platform": "tiktok", "pixel_id": "CABCDEFGHIJKLMNOPQ12", "events": ["PageView"]},
    ]
    assert interstitial["delay_ms"] == 1500
    assert interstitial["consent"] == {
        "required": True,
        "notice": "We load ad pixels.",
        "accept_label": "OK",
        "decline_label": "Decline",
        "on_decline": "continue_without_pixels",
    }
    assert interstitial["page_url"] == f"https://127.0.0.1/local/i/{interstitial['token']}"
    assert interstitial["expires_at"].endswith("Z")
    claims = verify_token(interstitial["token"], interstitial_runtime.token_secret().get(), now=0)
    assert claims.destination_url == LINK["destination_url"] and claims.workspace_id == "ws_dev"


def test_the_token_opens_the_page_and_a_changed_token_does_not(api: ApiClient) -> None:
    create_interstitial(api, interstitial_action())
    token = resolve(api, LINK).json()["interstitial"]["token"]

    page = open_page(api, token)
    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "script-src 'nonce-" in (page.header("Content-Security-Policy") or "")
    assert 'href="https://shop.example.com/spring?utm_source=ig"' in page.text

    tampered = open_page(api, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert tampered.status == 400
    assert "shop.example.com" not in tampered.text


def test_a_link_no_filter_matches_resolves_to_null(api: ApiClient) -> None:
    create_interstitial(api, interstitial_action({"include": {"countries": ["US"]}}))
    response = resolve(api, LINK)
    assert response.status == 200 and response.json() == {"interstitial": None}


def test_another_workspaces_interstitials_never_apply(api: ApiClient, other_api: ApiClient) -> None:
    create_interstitial(other_api, interstitial_action())
    assert resolve(api, LINK).json() == {"interstitial": None}


def test_the_configured_page_base_url_wins(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERSTITIAL_PAGE_BASE_URL", "http://127.0.0.1:3000")
    interstitial_runtime.reset()
    create_interstitial(api, interstitial_action())
    interstitial = resolve(api, LINK).json()["interstitial"]
    assert interstitial["page_url"] == f"http://127.0.0.1:3000/i/{interstitial['token']}"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"destination_url": "javascript:alert(1)"}, "destination_url"),
        ({"destination_url": "https://user:pw@shop.example.com/"}, "destination_url"),
        ({"country": "de"}, "country"),
        ({"url_id": '"><script>'}, "url_id"),
        ({"touch_type": "email"}, "touch_type"),
        ({"tag_ids": ["x"] * 101}, "tag_ids"),
        ({"link_id": "x"}, "link_id"),
    ],
)
def test_an_invalid_link_context_is_a_422_naming_the_field(api: ApiClient, change: dict[str, Any], path: str) -> None:
    response = resolve(api, LINK | change)
    assert response.status == 422
    assert [detail["path"] for detail in response.json()["error"]["details"]] == [path]


def test_without_an_api_key_the_answer_is_401(api: ApiClient) -> None:
    response = resolve(ApiClient(api.gateway, key=None), LINK)
    assert response.status == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


def test_redirects_are_answered_from_the_cache_with_one_query_per_period(api: ApiClient) -> None:
    create_interstitial(api, interstitial_action())
    calls: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        calls[operation] = calls.get(operation, 0) + 1

    aws.dynamodb().meta.events.register("before-call.*.*", count)
    for _ in range(20):
        assert resolve(api, LINK).json()["interstitial"] is not None
    assert calls == {"Query": 1}
