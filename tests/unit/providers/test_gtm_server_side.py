from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from nimriz_destinations.providers.base import Verdict
from nimriz_destinations.providers.ga4 import PROVIDER as GA4
from nimriz_destinations.providers.gtm_server_side import PROVIDER, GTMServerSideCredentials
from tests.provider_support import EVENT_TYPES, make_event, make_item, response

CREDENTIALS = {"container_url": "https://sgtm.example.com", "measurement_id": "G-SGTM12345", "api_secret": "gtm-s3cret"}


def only_request(credentials: dict[str, Any], **item_options: Any) -> Any:
    (request,) = PROVIDER.build_requests([make_item(PROVIDER, **item_options)], credentials, now=time.time()).requests
    return request


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_default_mapping_is_the_ga4_measurement_protocol_mapping(event_type: str) -> None:
    event = make_event(event_type)
    assert PROVIDER.default_payload(event) == GA4.default_payload(event)
    assert PROVIDER.default_mapping_doc == GA4.default_mapping_doc


def test_hits_go_to_the_container_mp_collect_path_with_measurement_id_and_api_secret() -> None:
    request = only_request(CREDENTIALS)
    url = urlsplit(request.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "sgtm.example.com", "/mp/collect")
    assert parse_qs(url.query) == {"measurement_id": ["G-SGTM12345"], "api_secret": ["gtm-s3cret"]}
    assert request.secrets == ("gtm-s3cret",)
    assert json.loads(request.body)["events"][0]["name"] == "link_click"


def test_a_container_path_prefix_is_kept() -> None:
    request = only_request(CREDENTIALS | {"container_url": "https://example.com/tagging/"})
    assert urlsplit(request.url).path == "/tagging/mp/collect"


def test_without_an_api_secret_nothing_secret_is_sent() -> None:
    request = only_request({k: v for k, v in CREDENTIALS.items() if k != "api_secret"})
    assert parse_qs(urlsplit(request.url).query) == {"measurement_id": ["G-SGTM12345"]}
    assert request.secrets == ()


def test_test_sends_are_ordinary_hits_because_containers_have_no_validation_server() -> None:
    request = only_request(CREDENTIALS, reason="test")
    assert urlsplit(request.url).path == "/mp/collect"


def test_the_container_url_is_normalised_and_must_be_a_plain_base_url() -> None:
    base = {"measurement_id": "G-SGTM12345"}
    valid = GTMServerSideCredentials.model_validate(base | {"container_url": "https://sgtm.example.com/"})
    assert valid.container_url == "https://sgtm.example.com"
    for bad in ("https://sgtm.example.com/?x=1", "https://sgtm.example.com/#frag", "sgtm.example.com"):
        with pytest.raises(ValidationError):
            GTMServerSideCredentials.model_validate(base | {"container_url": bad})
    assert PROVIDER.url_fields == ("container_url",)
    assert GTMServerSideCredentials.secret_fields() == {"api_secret"}


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (400, Verdict.PERMANENT),  # no client claimed the request
        (403, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_container_answers_are_classified_by_status(status: int, verdict: Verdict) -> None:
    assert PROVIDER.classify(only_request(CREDENTIALS), response(status))[0].verdict is verdict


def test_a_container_429_is_throttled_on_our_schedule() -> None:
    outcome = PROVIDER.classify(only_request(CREDENTIALS), response(429))[0]
    assert (outcome.verdict, outcome.throttled, outcome.retry_after) == (Verdict.RETRY, True, None)


def test_a_container_answering_validation_messages_on_a_live_path_is_not_misread_as_validated() -> None:
    # Only GA4's /debug path is a validation server; a container's 200 is a plain success.
    outcome = PROVIDER.classify(only_request(CREDENTIALS, reason="test"), response(200, {"validationMessages": [1]}))[0]
    assert outcome.verdict is Verdict.DELIVERED
