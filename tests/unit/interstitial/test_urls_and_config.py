"""Destination URL rules, where the page is served, and the environment the interstitial functions read."""

from __future__ import annotations

import json

import pytest

from nimriz_destinations.interstitial.urls import check_destination_url, page_base_url
from nimriz_destinations.settings import load_settings, parse_pixel_host_overrides

LOCAL_STAND_INS = json.dumps({"meta": "http://127.0.0.1:4010/meta"})


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/spring?utm_source=ig&x=%20y#top",
        "http://shop.example.com:8080/",
        "HTTPS://SHOP.EXAMPLE.COM",
        "https://xn--bcher-kva.example/",
        "https://[2001:db8::1]/path",
    ],
)
def test_absolute_http_urls_are_valid_destinations(url: str) -> None:
    assert check_destination_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example.com/",
        "//shop.example.com/",
        "/relative/path",
        "https:///no-host",
        "https://user:password@shop.example.com/",
        "https://shop.example.com/a b",
        "https://shop.example.com/\ttab",
        "https://shop.example.com\\@evil.example/",
        "https://bücher.example/",
        "https://shop.example.com:99999/",
        "https://shop.example.com/" + "a" * 2048,
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_destination_url(url)


@pytest.mark.parametrize(
    ("configured", "context", "expected"),
    [
        ("https://go.nimriz.com/", {}, "https://go.nimriz.com"),
        (
            "",
            {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "path": "/prod/api/x/resolve"},
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
        ),
        ("", {"domainName": "api.nimriz.com", "path": "/api/x/resolve"}, "https://api.nimriz.com"),
    ],
)
def test_the_page_base_url_is_configured_or_taken_from_the_request(
    configured: str, context: dict[str, str], expected: str
) -> None:
    assert page_base_url(configured, context, "/api/x/resolve") == expected


def test_pixel_host_overrides_and_a_plain_secret_apply_only_on_the_local_stage() -> None:
    env = {"NIMRIZ_PIXEL_HOST_OVERRIDES": LOCAL_STAND_INS, "NIMRIZ_INTERSTITIAL_SECRET": "local-secret"}
    local = load_settings({"STAGE": "local", **env})
    deployed = load_settings({"STAGE": "prod", **env})
    assert dict(local.pixel_host_overrides) == {"meta": "http://127.0.0.1:4010/meta"}
    assert local.interstitial_local_secret == "local-secret"
    assert dict(deployed.pixel_host_overrides) == {} and deployed.interstitial_local_secret == ""


def test_the_secret_arn_and_page_base_url_are_read_in_every_stage() -> None:
    config = load_settings(
        {"STAGE": "prod", "INTERSTITIAL_TOKEN_SECRET_ARN": "arn:secret", "INTERSTITIAL_PAGE_BASE_URL": "https://go.x"}
    )
    assert (config.interstitial_token_secret_arn, config.interstitial_page_base_url, config.is_local) == (
        "arn:secret",
        "https://go.x",
        False,
    )


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"pinterest": "http://127.0.0.1:1/p"}',
        '{"meta": "file:///etc/passwd"}',
        '{"meta": "127.0.0.1:4010"}',
        '{"meta": "http://127.0.0.1:4010/meta?x=1"}',
        '{"meta": 4010}',
    ],
)
def test_malformed_overrides_fail_loudly(text: str) -> None:
    with pytest.raises(ValueError):
        parse_pixel_host_overrides(text)
