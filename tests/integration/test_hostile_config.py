"""Hostile configuration through the Destinations API (local stage, where loopback URLs are allowed).

Text, URLs and header values that cannot be shown or sent are 422s at their exact path when saved; what is saved
is stored normalised (NFC text, A-label hosts); an unsendable URL stored before these rules fails at send as a
permanent, named error instead of `internal_error` six times; and filters too slow to evaluate, alone or with the
rest of their workspace, are 422s naming the budget (design §6).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimriz_destinations import aws as aws_clients
from nimriz_destinations.filters import EventFilter
from nimriz_destinations.filters.cost import FILTER_BUDGET_NS, WORKSPACE_BUDGET_NS, filter_cost, milliseconds
from nimriz_destinations.filters.regex_safety import compile_safe_pattern
from nimriz_destinations.netguard import check_url, parse_url
from nimriz_destinations.sample_events import sample_event
from tests.conftest import ApiClient, ApiResponse
from tests.factories import INTERSTITIAL_SETTINGS, destination_body
from tests.local.template import LocalStack
from tests.pipeline import Pipeline

BASE = "/api/integrations/destinations"

# (value, words of the reason naming the rule)
NAME_REPROS: dict[str, tuple[str, str]] = {
    "NUL": ("Webhook\x00", "control characters"),
    "SOH": ("Web\x01hook", "control characters"),
    "ESC sequence": ("\x1b[31mWebhook\x1b[0m", "control characters"),
    "CR": ("Web\rhook", "control characters"),
    "LF": ("Web\nhook", "control characters"),
    "CRLF": ("Web\r\nhook", "control characters"),
    "DEL": ("Web\x7fhook", "control characters"),
    "C1 NEL": ("Web\x85hook", "control characters"),
    "C1 CSI": ("Web\x9b31mhook", "control characters"),
    **{
        f"bidi U+{code:04X}": (f"Invoice {chr(code)}fdp.exe", "bidirectional control")
        for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
    },
    "line separator": ("Web\u2028hook", "separators"),
    "paragraph separator": ("Web\u2029hook", "separators"),
    "zero-width only": ("\u200b\u200c\u200d", "visible character"),
    "word joiner and BOM only": ("\u2060\ufeff", "visible character"),
    "soft hyphen only": ("\u00ad\u00ad", "visible character"),
    "Hangul fillers only": ("\u3164\u115f", "visible character"),
    "variation selectors only": ("\ufe0f\ufe0e", "visible character"),
    "whitespace only": ("\u3000\u00a0 ", "visible character"),
}

URL_REPROS: dict[str, str] = {
    "space in host": "https://hooks .example.com/x",
    "tab in host": "https://hooks\t.example.com/x",
    "empty label": "https://example..com/x",
    "64-character label": f"https://{'a' * 64}.example.com/x",
    "host over 253 characters": "https://" + ".".join(["a" * 63] * 4) + ".com/x",
    "invalid IDNA label": "https://xn--.com/x",
    "full-width digits": "https://１２７.０.０.１/x",
    "6to4 of 169.254.169.254": "https://[2002:a9fe:a9fe::1]/x",
    "decimal shorthand": "https://2130706433/x",
    "hex shorthand": "https://0x7f.1/x",
    "short dotted": "https://127.1/x",
    "octal": "https://0177.0.0.1/x",
}
URL_FIELDS = {"generic_http": "url", "posthog": "host", "gtm_server_side": "container_url"}

HEADER_REPROS: dict[str, str] = {
    "non-ASCII": "café",
    "bidi": "Bearer \u202enekot",
    "ESC": "Bearer \x1b[0mtoken",
    "tab": "Bearer\ttoken",
    "NUL": "Bearer \x00token",
    "header injection": "token\r\nX-Injected: 1",
    "DEL": "token\x7f",
}


def problems(response: ApiResponse) -> list[tuple[str, str]]:
    return [(detail["path"], detail["reason"]) for detail in response.json()["error"]["details"]]


def named(value: str) -> dict[str, Any]:
    body = destination_body("segment", name=value)
    body["actions"][0]["name"] = value
    return body


def consent_body(**consent: Any) -> dict[str, Any]:
    body = destination_body("ad_pixel_interstitial")
    settings = {**INTERSTITIAL_SETTINGS, "consent": {**INTERSTITIAL_SETTINGS["consent"], **consent}}
    body["actions"][0]["settings"] = settings
    return body


def with_credential(destination_type: str, field: str, value: Any) -> dict[str, Any]:
    body = destination_body(destination_type)
    body["credentials"][field] = value
    return body


def test_names_breaking_the_text_rule_are_422_at_both_name_paths_with_the_rule_named(api: ApiClient) -> None:
    outcomes = {}
    for label, (value, rule) in NAME_REPROS.items():
        response = api.post(BASE, named(value))
        found = problems(response) if response.status == 422 else []
        outcomes[label] = (response.status, sorted(path for path, _ in found), all(rule in r for _, r in found))
    assert outcomes == {label: (422, ["actions[0].name", "name"], True) for label in NAME_REPROS}


def test_an_update_is_held_to_the_same_text_rule(api: ApiClient) -> None:
    created = api.post(BASE, named("Segment events")).json()["destination"]
    body = named("Segment\u202e events")
    body["actions"][0]["id"] = created["actions"][0]["id"]
    response = api.put(f"{BASE}/{created['id']}", body, headers={"If-Match": '"v1"'})
    assert response.status == 422
    assert sorted(path for path, _ in problems(response)) == ["actions[0].name", "name"]


def test_names_and_consent_text_are_stored_in_nfc(api: ApiClient) -> None:
    response = api.post(BASE, named("Cafe\u0301 events"))
    assert response.status == 201, response.text
    stored = api.get(f"{BASE}/{response.json()['destination']['id']}").json()["destination"]
    assert stored["name"] == stored["actions"][0]["name"] == "Caf\u00e9 events"

    response = api.post(BASE, consent_body(notice="Cafe\u0301 pixels.\nDecline to skip.", accept_label="Ole\u0301"))
    assert response.status == 201, response.text
    consent = response.json()["destination"]["actions"][0]["settings"]["consent"]
    assert (consent["notice"], consent["accept_label"]) == ("Caf\u00e9 pixels.\nDecline to skip.", "Ol\u00e9")


def test_consent_notice_and_labels_breaking_the_text_rule_are_422_at_their_paths(api: ApiClient) -> None:
    where = "actions[0].settings.consent"
    cases = [
        ({"notice": "\x1b[2JPixels load."}, f"{where}.notice", "control characters"),
        ({"notice": "Pixels load.\r\nDecline."}, f"{where}.notice", "control characters"),
        ({"notice": "Pixels \u202edaol."}, f"{where}.notice", "bidirectional control"),
        ({"notice": "Pixels load.\u2028Decline."}, f"{where}.notice", "separators"),
        ({"notice": "\u200b\u2060"}, f"{where}.notice", "visible character"),
        ({"accept_label": "OK\nGo"}, f"{where}.accept_label", "control characters"),
        ({"decline_label": "\u2067No"}, f"{where}.decline_label", "bidirectional control"),
        ({"decline_label": "\u3164"}, f"{where}.decline_label", "visible character"),
    ]
    outcomes = []
    for consent, _, rule in cases:
        response = api.post(BASE, consent_body(**consent))
        found = problems(response) if response.status == 422 else []
        outcomes.append((response.status, [p for p, _ in found], all(rule in r for _, r in found)))
    assert outcomes == [(422, [path], True) for _, path, _ in cases]


@pytest.mark.parametrize(("destination_type", "field"), URL_FIELDS.items())
def test_urls_breaking_the_url_rule_are_422_at_the_credential_path(
    api: ApiClient, destination_type: str, field: str
) -> None:
    outcomes = {}
    for label, url in URL_REPROS.items():
        response = api.post(BASE, with_credential(destination_type, field, url))
        found = problems(response) if response.status == 422 else []
        outcomes[label] = (response.status, [path for path, _ in found])
    assert outcomes == {label: (422, [f"credentials.{field}"]) for label in URL_REPROS}


def test_a_url_is_stored_in_the_normalised_form_that_is_sent(api: ApiClient) -> None:
    response = api.post(BASE, with_credential("generic_http", "url", "https://Bücher.Example/Hook?A=1"))
    assert response.status == 201, response.text
    assert response.json()["destination"]["credentials"]["url"] == "https://xn--bcher-kva.example/Hook?A=1"


def test_header_values_outside_visible_ascii_are_422_at_the_header_path_without_echoing_the_value(
    api: ApiClient,
) -> None:
    outcomes = {}
    for label, value in HEADER_REPROS.items():
        response = api.post(BASE, with_credential("generic_http", "headers", {"Authorization": value}))
        found = problems(response) if response.status == 422 else []
        outcomes[label] = (response.status, [path for path, _ in found], value in response.text)
    assert outcomes == {label: (422, ["credentials.headers.Authorization"], False) for label in HEADER_REPROS}


def test_header_values_are_stored_without_surrounding_spaces_the_http_client_would_refuse(
    api: ApiClient, aws: LocalStack
) -> None:
    body = with_credential("generic_http", "headers", {"X-Team": "  growth team  "})
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    assert stored_credentials(aws, response.json()["destination"]["id"])["headers"] == {"X-Team": "growth team"}


# -- at send: a URL stored before the rule ----------------------------------------------------------------------


def stored_item(stack: LocalStack, destination_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(DynamoDB key, parsed document) of a destination's item."""
    key = {"PK": {"S": "WS#ws_dev"}, "SK": {"S": f"DEST#{destination_id}"}}
    item = aws_clients.dynamodb().get_item(TableName=stack.tables["DestinationsTable"], Key=key)["Item"]
    return key, json.loads(item["doc"]["S"])


def stored_credentials(stack: LocalStack, destination_id: str) -> dict[str, Any]:
    _, document = stored_item(stack, destination_id)
    secret = aws_clients.secretsmanager().get_secret_value(
        SecretId=document["secret_arn"], VersionId=document["secret_version"]
    )
    credentials: dict[str, Any] = json.loads(secret["SecretString"])
    return credentials


def store_credentials_bypassing_validation(stack: LocalStack, destination_id: str, credentials: dict[str, Any]) -> None:
    """What a destination saved before the URL rule holds: credentials written straight to the stores."""
    key, document = stored_item(stack, destination_id)
    document["secret_version"] = aws_clients.secretsmanager().put_secret_value(
        SecretId=document["secret_arn"], SecretString=json.dumps(credentials)
    )["VersionId"]
    aws_clients.dynamodb().update_item(
        TableName=stack.tables["DestinationsTable"],
        Key=key,
        UpdateExpression="SET #doc = :doc",
        ExpressionAttributeNames={"#doc": "doc"},
        ExpressionAttributeValues={":doc": {"S": json.dumps(document)}},
    )


@pytest.mark.parametrize("url", [URL_REPROS["space in host"], URL_REPROS["6to4 of 169.254.169.254"]])
def test_a_stored_url_breaking_the_rule_is_dead_lettered_unsent_as_unsafe_destination(
    api: ApiClient, aws: LocalStack, url: str
) -> None:
    # Refused before connecting: final at once, and no attempt is counted (attempts count requests sent).
    created = api.post(BASE, destination_body("generic_http")).json()["destination"]
    legacy = {**stored_credentials(aws, created["id"]), "url": url}
    store_credentials_bypassing_validation(aws, created["id"], legacy)
    action_id = created["actions"][0]["id"]
    queued = api.post(f"{BASE}/{created['id']}/test-send", {"action_id": action_id})
    assert queued.status == 202, queued.text
    Pipeline(aws).run(timeout=30)
    delivery = api.get(f"{BASE}/{created['id']}/deliveries/{queued.json()['delivery']['id']}").json()["delivery"]
    assert (delivery["status"], delivery["attempts"], delivery["last_error_class"]) == (
        "dead_lettered",
        0,
        "unsafe_destination",
    )
    (letter,) = api.get(f"{BASE}/{created['id']}/dead-letters").json()["dead_letters"]
    assert letter["error_class"] == "unsafe_destination"


# -- generated input: refused at save at its path, or stored in a form that is shown and sent as judged -------


_HOSTS = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?){0,2}\.com", fullmatch=True),
    st.text(alphabet=st.sampled_from([*"a1-.", "ü", "１", "。", " ", "\t", "_", "%", "\u200b", "@", ":"]), max_size=12),
    st.ip_addresses().map(lambda address: f"[{address}]" if address.version == 6 else str(address)),
)
_GENERATED_URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}{path}",
    st.sampled_from(["https", "http"]),
    _HOSTS,
    st.sampled_from(["", "/hook", "/a?b=1", "/é", "/ x", "/%zz"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=_GENERATED_URLS)
def test_generated_webhook_urls_are_refused_at_their_path_or_stored_sendable(api: ApiClient, url: str) -> None:
    response = api.post(BASE, with_credential("generic_http", "url", url))
    if response.status == 422:
        assert [path for path, _ in problems(response)] == ["credentials.url"]
        return
    assert response.status == 201, response.text
    stored = response.json()["destination"]["credentials"]["url"]
    assert check_url(stored, allow_loopback=True) == stored  # passes the rule again at send, unchanged
    assert httpx.URL(stored).raw_host.decode("ascii") == parse_url(stored).host


_NAMES = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\x1b", "\r", "\n", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff", "e", "\u0301"]),
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_NAMES)
def test_generated_names_are_refused_at_their_path_or_stored_nfc_without_controls(api: ApiClient, name: str) -> None:
    response = api.post(BASE, named(name))
    if response.status == 422:
        assert sorted(path for path, _ in problems(response)) == ["actions[0].name", "name"]
        return
    assert response.status == 201, response.text
    stored = response.json()["destination"]["name"]
    assert stored == unicodedata.normalize("NFC", stored) == unicodedata.normalize("NFC", name).strip()
    assert not any(unicodedata.category(c) == "Cc" or c in "\u202e\u2066" for c in stored)


# -- filter evaluation budgets (design §6) ------------------------------------------------------------------------

# Each passes regex_safety on its own, yet backtracks for 30-140 ms on 1,024 letters (measured): fifty of them in
# one `any` group took 6 s per preview and held up other workspaces' events in fan-out.
SLOW_PATTERNS = [rf"(?i)[a-z]+?[a-z]{{0,3}}{index:02d}" for index in range(50)]


def slow_any_group() -> dict[str, Any]:
    return {"any": [{"field": "utm.campaign", "operator": "matches", "value": pattern} for pattern in SLOW_PATTERNS]}


def test_fifty_patterns_each_accepted_alone_in_one_any_group_are_refused_at_save_naming_the_filter_budget(
    api: ApiClient,
) -> None:
    assert all(compile_safe_pattern(pattern) for pattern in SLOW_PATTERNS)
    body = destination_body("segment")
    body["actions"][0]["event_filter"] = {"conditions": [slow_any_group()]}
    event = sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev")
    event["utm"]["campaign"] = "a" * 1024

    created = api.post(BASE, body)
    previewed = api.post(f"{BASE}/preview", {"destination": body, "event": event})
    ordinary = api.post(BASE, destination_body("segment")).json()["destination"]
    updated = api.put(f"{BASE}/{ordinary['id']}", {**body, "actions": [{**body["actions"][0]}]})

    budget = f"filter evaluation budget of {milliseconds(FILTER_BUDGET_NS)}"
    for response in (created, previewed, updated):
        assert response.status == 422, response.text
        ((path, reason),) = problems(response)
        assert path == "actions[0].event_filter.conditions[0].any[0]"
        assert budget in reason


def test_a_workspace_whose_filters_together_exceed_its_budget_is_refused_though_each_filter_fits(
    api: ApiClient,
) -> None:
    # Substring searches for half-kilobyte needles: each filter under its own budget, a few of them over the
    # workspace's. Disabled destinations count: enabling one changes no filter.
    needles = [chr(ord("a") + index) * 511 + "z" for index in range(4)]
    event_filter = {"conditions": [{"field": "utm.campaign", "operator": "contains", "value": n} for n in needles]}
    cost = filter_cost(EventFilter.model_validate(event_filter)).nanoseconds
    assert cost <= FILTER_BUDGET_NS
    fitting = WORKSPACE_BUDGET_NS // cost
    body = destination_body("segment")
    body["actions"][0]["event_filter"] = event_filter

    saved = [api.post(BASE, {**body, "enabled": index % 2 == 0}) for index in range(fitting)]
    assert [response.status for response in saved] == [201] * fitting
    refused = api.post(BASE, body)
    first = saved[0].json()["destination"]
    same_filter = {**body, "actions": [{**body["actions"][0], "id": first["actions"][0]["id"]}]}
    kept = api.put(f"{BASE}/{first['id']}", same_filter)

    assert refused.status == 422, refused.text
    ((path, reason),) = problems(refused)
    assert path == "actions[0].event_filter"
    assert f"workspace evaluation budget of {milliseconds(WORKSPACE_BUDGET_NS)}" in reason
    assert kept.status == 200, kept.text  # an update replaces the destination's own share, it does not add to it
