"""Hostile requests get a 4xx with the API's error body, never a 5xx: bodies, media types, cursors, stored sizes,
previews and replays (issue 8, request parsing), driven through the API Gateway stand-in on moto."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimriz_destinations import aws, runtime
from nimriz_destinations.providers import DESTINATION_TYPES
from nimriz_destinations.safe_json import MAX_DEPTH, MAX_INTEGER_DIGITS
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.destinations import DOCUMENT_BUDGET_BYTES
from nimriz_destinations.storage.secrets import MAX_SECRET_BYTES
from tests.conftest import ApiClient
from tests.factories import SECRET_MARK, VALID_CREDENTIALS, action_body, destination_body
from tests.local.lambdas import invoke
from tests.local.seed import authorizer_context
from tests.local.template import LocalStack

BASE = "/api/integrations/destinations"
SOME_ID = "0b7c3a52-8d4e-4f0a-9a71-3f2d5c6e7a8b"

# Every route that takes a JSON body: (method, path).
BODY_ROUTES = [
    ("POST", BASE),
    ("PUT", f"{BASE}/{SOME_ID}"),
    ("POST", f"{BASE}/{SOME_ID}/preview"),
    ("POST", f"{BASE}/preview"),
    ("POST", f"{BASE}/{SOME_ID}/test-send"),
    ("POST", f"{BASE}/{SOME_ID}/dead-letters/replay"),
    ("POST", "/api/integrations/interstitial/resolve"),
]
LIST_ROUTES = [BASE, f"{BASE}/{SOME_ID}/deliveries", f"{BASE}/{SOME_ID}/dead-letters"]


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "support_reference", "details"}
    return error


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def utf8(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def with_static_overrides(body: dict[str, Any], values: list[Any], *, per_action: int = 2) -> dict[str, Any]:
    """One static override per value, `per_action` of them to an action (an action's fixed output is bounded)."""
    first = body["actions"][0]
    body["actions"] = [
        {
            **first,
            "name": f"{first['name']} {start // per_action}",
            "property_mapping": {
                "base": "default",
                "overrides": [
                    {"type": "static", "to": f"properties.p{i}", "value": value}
                    for i, value in enumerate(values[start : start + per_action], start)
                ],
            },
        }
        for start in range(0, len(values), per_action)
    ]
    return body


class TestJsonBodies:
    @pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
    def test_nesting_past_the_recursion_limit_gives_400(self, api: ApiClient, method: str, path: str) -> None:
        response = api.request(method, path, raw=b"[" * 1500 + b"]" * 1500)
        assert response.status == 400, response.text
        error = error_of(response)
        assert error["code"] == "INVALID_JSON" and str(MAX_DEPTH) in error["message"]

    @pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
    def test_an_integer_past_pythons_digit_limit_gives_400(self, api: ApiClient, method: str, path: str) -> None:
        response = api.request(method, path, raw=b'{"name": ' + b"7" * 4301 + b"}")
        assert response.status == 400, response.text
        error = error_of(response)
        assert error["code"] == "INVALID_JSON" and str(MAX_INTEGER_DIGITS) in error["message"]

    @pytest.mark.parametrize(
        "content_type", ["text/json", "application/evil+json", "application/x-www-form-urlencoded", "text/plain"]
    )
    @pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
    def test_a_media_type_other_than_application_json_gives_415(
        self, api: ApiClient, method: str, path: str, content_type: str
    ) -> None:
        response = api.request(method, path, raw=b"{}", headers={"content-type": content_type})
        assert response.status == 415, response.text
        assert error_of(response)["code"] == "UNSUPPORTED_MEDIA_TYPE"

    def test_a_declared_media_type_is_checked_even_without_a_body(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        response = api.request(
            "POST", f"{BASE}/{destination['id']}/dead-letters/replay", headers={"content-type": "text/json"}
        )
        assert response.status == 415, response.text

    @pytest.mark.parametrize(
        "content_type", ["application/json; charset=utf-8", "Application/JSON", "APPLICATION/JSON;charset=UTF-8"]
    )
    def test_application_json_with_parameters_in_any_case_is_accepted(self, api: ApiClient, content_type: str) -> None:
        response = api.request(
            "POST", BASE, raw=utf8(destination_body("segment")), headers={"content-type": content_type}
        )
        assert response.status == 201, response.text

    @pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
    def test_nan_or_infinity_as_a_static_override_gives_400_and_nothing_is_stored(
        self, api: ApiClient, value: bytes
    ) -> None:
        text = utf8(with_static_overrides(destination_body("segment"), ["__VALUE__"]))
        response = api.post(BASE, raw=text.replace(b'"__VALUE__"', value))
        assert response.status == 400, response.text
        assert error_of(response)["code"] == "INVALID_JSON"
        assert api.get(BASE).json()["destinations"] == []

    def test_an_unpaired_surrogate_escape_gives_400(self, api: ApiClient) -> None:
        response = api.post(BASE, raw=utf8(destination_body("segment", name="NAME")).replace(b"NAME", b"\\ud800"))
        assert response.status == 400, response.text
        assert "surrogate" in error_of(response)["message"]

    def test_a_base64_encoded_body_that_is_not_utf8_gives_400(self, aws: LocalStack) -> None:
        event = _create_event(base64.b64encode(b'{"name": "caf\xe9"}').decode(), is_base64=True)
        result = invoke("CreateDestinationFunction", event)
        assert result["statusCode"] == 400
        assert "UTF-8" in json.loads(result["body"])["error"]["message"]

    def test_a_base64_encoded_utf8_body_is_parsed(self, aws: LocalStack) -> None:
        event = _create_event(base64.b64encode(utf8(destination_body("segment", name="Café"))).decode(), is_base64=True)
        result = invoke("CreateDestinationFunction", event)
        assert result["statusCode"] == 201, result["body"]
        assert json.loads(result["body"])["destination"]["name"] == "Café"


def _create_event(body: str, *, is_base64: bool) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "resource": BASE,
        "path": BASE,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": BASE,
            "httpMethod": "POST",
            "stage": "local",
            "requestId": request_id,
            "authorizer": authorizer_context(),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


class TestCursors:
    @pytest.mark.parametrize("path", LIST_ROUTES)
    def test_a_cursor_decoding_to_deeply_nested_json_gives_400(self, api: ApiClient, path: str) -> None:
        path = path.replace(SOME_ID, create(api, destination_body("segment"))["id"])
        cursor = base64.urlsafe_b64encode(b"[" * 1536).decode()  # the 2,048-character cursor limit
        response = api.get(f"{path}?cursor={cursor}")
        assert response.status == 400, response.text
        assert error_of(response)["code"] == "INVALID_CURSOR"

    @pytest.mark.parametrize("decoded", [b"9" * 1500, b'{"pk": NaN, "sk": 1}', b'{"pk": "\\udc00"}', b"\xff\xfe"])
    def test_a_cursor_decoding_to_hostile_json_gives_400(self, api: ApiClient, decoded: bytes) -> None:
        response = api.get(f"{BASE}?cursor={base64.urlsafe_b64encode(decoded).decode()}")
        assert response.status == 400, response.text
        assert error_of(response)["code"] == "INVALID_CURSOR"


class TestStoredSizes:
    def test_thirty_overrides_of_4000_accented_characters_are_stored_and_read_back(
        self, api: ApiClient, aws: LocalStack
    ) -> None:
        values = ["é" * 4000] * 30  # a 240 KB body: \u-escaped it would be a 720 KB item
        body = with_static_overrides(destination_body("segment"), values)
        response = api.post(BASE, raw=utf8(body))
        assert response.status == 201, response.text[:300]
        destination = response.json()["destination"]

        fetched = api.get(f"{BASE}/{destination['id']}").json()["destination"]
        stored = [o["value"] for action in fetched["actions"] for o in action["property_mapping"]["overrides"]]
        assert stored == values
        item = _item(aws, destination["id"])
        assert "\\u00e9" not in item["doc"]["S"] and "é" * 4000 in item["doc"]["S"]

        kept = [{**sent, "id": made["id"]} for sent, made in zip(body["actions"], destination["actions"], strict=True)]
        update = {"name": "again", "actions": kept}
        assert api.put(f"{BASE}/{destination['id']}", raw=utf8(update)).status == 200

    def test_a_document_over_the_item_budget_gives_413_on_create_and_update(
        self, api: ApiClient, aws: LocalStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MAX_BODY_BYTES", str(1024 * 1024))
        runtime.reset()
        destination = create(api, destination_body("segment"))
        secrets_before = _secret_count()
        too_large = with_static_overrides(destination_body("segment"), ["x" * 4000] * 100, per_action=4)

        created = api.post(BASE, raw=utf8(too_large))
        update = {"name": "too large", "actions": too_large["actions"], "credentials": VALID_CREDENTIALS["segment"]}
        updated = api.put(f"{BASE}/{destination['id']}", raw=utf8(update))

        for response in (created, updated):
            assert response.status == 413, response.text[:300]
            error = error_of(response)
            assert error["code"] == "PAYLOAD_TOO_LARGE" and str(DOCUMENT_BUDGET_BYTES) in error["message"]
        assert _secret_count() == secrets_before  # refused before anything was written
        assert api.get(f"{BASE}/{destination['id']}").json()["destination"]["version"] == 1

    def test_webhook_headers_over_the_secret_limit_give_422_naming_credentials_on_create_and_update(
        self, api: ApiClient
    ) -> None:
        destination = create(api, destination_body("generic_http"))
        secrets_before = _secret_count()
        credentials = {
            **VALID_CREDENTIALS["generic_http"],
            "headers": {f"X-Custom-{i}": "v" * 4000 for i in range(20)},
        }

        created = api.post(BASE, destination_body("generic_http", credentials=credentials))
        update = {"name": "big headers", "actions": [action_body("send_webhook")], "credentials": credentials}
        updated = api.put(f"{BASE}/{destination['id']}", update)

        for response in (created, updated):
            assert response.status == 422, response.text[:300]
            error = error_of(response)
            assert error["code"] == "VALIDATION_FAILED"
            (detail,) = error["details"]
            assert detail["path"] == "credentials" and str(MAX_SECRET_BYTES) in detail["reason"]
            assert SECRET_MARK not in response.text and "vvvv" not in response.text
        assert _secret_count() == secrets_before

    def test_removed_actions_lose_their_health_attributes(self, api: ApiClient, aws: LocalStack) -> None:
        from nimriz_destinations.storage.destinations import DestinationStore, SentTally

        destination = create(api, destination_body("segment"))
        old_action = destination["actions"][0]["id"]
        DestinationStore(aws.tables["DestinationsTable"]).record_sent(
            "ws_dev", destination["id"], {old_action: SentTally(delivered=0, failed=1)}, at="2026-01-01T00:00:00.000Z"
        )
        assert f"hc_{old_action}" in _item(aws, destination["id"])

        response = api.put(
            f"{BASE}/{destination['id']}", {"name": "new action", "actions": [action_body("send_event")]}
        )
        assert response.status == 200, response.text
        assert not [name for name in _item(aws, destination["id"]) if name.endswith(old_action)]


def _item(stack: LocalStack, destination_id: str) -> dict[str, Any]:
    key = {"PK": {"S": "WS#ws_dev"}, "SK": {"S": f"DEST#{destination_id}"}}
    item: dict[str, Any] = aws.dynamodb().get_item(TableName=stack.tables["DestinationsTable"], Key=key)["Item"]
    return item


def _secret_count() -> int:
    return len(aws.secretsmanager().list_secrets()["SecretList"])


class TestPreview:
    @pytest.mark.parametrize("saved", [True, False], ids=["saved", "unsaved"])
    def test_google_ads_preview_shows_the_token_as_obtained_at_send_and_redacts_every_secret(
        self, api: ApiClient, saved: bool
    ) -> None:
        response = _preview(api, destination_body("google_ads"), saved=saved)
        assert response.status == 200, response.text
        (action,) = response.json()["actions"]
        (request,) = action["requests"]
        assert request["headers"]["Authorization"] == "Bearer [obtained at send]"
        assert request["headers"]["developer-token"] == "[redacted]"
        assert "fetched from Google when the delivery is sent" in action["note"]
        assert SECRET_MARK not in response.text

    @pytest.mark.parametrize("saved", [True, False], ids=["saved", "unsaved"])
    @pytest.mark.parametrize("destination_type", DESTINATION_TYPES)
    def test_preview_of_every_destination_type_answers_200(
        self, api: ApiClient, destination_type: str, saved: bool
    ) -> None:
        response = _preview(api, destination_body(destination_type), saved=saved)
        assert response.status == 200, response.text
        assert SECRET_MARK not in response.text

    def test_an_event_field_nested_255_deep_gives_400(self, api: ApiClient) -> None:
        event = {**sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev"), "extra": _deep(255)}
        response = _preview(api, destination_body("segment"), saved=True, event=event)
        assert response.status == 400, response.text
        assert error_of(response)["code"] == "INVALID_JSON"

    @pytest.mark.parametrize("destination_type", ["generic_http", "segment"])
    def test_an_event_nested_as_deep_as_allowed_previews_without_error(
        self, api: ApiClient, destination_type: str
    ) -> None:
        # {"destination": ..., "event": {"extra": ...}} on the unsaved route: the body's deepest allowed nesting.
        event = {
            **sample_event("link.clicked", workspace_id="ws_dev", organization_id="org_dev"),
            "extra": _deep(MAX_DEPTH - 2),
        }
        for saved in (True, False):
            response = _preview(api, destination_body(destination_type), saved=saved, event=event)
            assert response.status == 200, response.text
            assert response.json()["event"]["extra"] == event["extra"]


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"x": value}
    return value


def _preview(api: ApiClient, body: dict[str, Any], *, saved: bool, event: dict[str, Any] | None = None) -> Any:
    if saved:
        destination = create(api, body)
        return api.post(f"{BASE}/{destination['id']}/preview", {"event": event} if event else {})
    return api.post(f"{BASE}/preview", {"destination": body, **({"event": event} if event else {})})


class TestReplay:
    def test_ids_null_gives_422_instead_of_replaying_everything(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        response = api.post(f"{BASE}/{destination['id']}/dead-letters/replay", {"ids": None})
        assert response.status == 422, response.text
        assert [d["path"] for d in error_of(response)["details"]] == ["ids"]

    def test_an_empty_ids_list_gives_422(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        assert api.post(f"{BASE}/{destination['id']}/dead-letters/replay", {"ids": []}).status == 422

    @pytest.mark.parametrize("body", [{}, None], ids=["empty object", "no body"])
    def test_an_empty_object_or_no_body_replays_all(self, api: ApiClient, body: dict[str, Any] | None) -> None:
        destination = create(api, destination_body("segment"))
        response = api.post(f"{BASE}/{destination['id']}/dead-letters/replay", body)
        assert response.status == 202, response.text
        assert response.json() == {"replayed": []}


# Fragments a hostile client would try, glued together at random: structure, limits, literals, escapes.
HOSTILE_FRAGMENTS = [
    "{", "}", "[", "]", ",", ":", '"', "\\", "null", "true", "NaN", "-Infinity", "1e999", "9" * 5000, "-0",
    "1.5e308", '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', "\ud83d", "\x00", "\ufeff", "é", " ",
    '"name":', '"type":"segment"', '"type":"google_ads"', '"credentials":', '"actions":', '"ids":', '"event":',
    '"destination":', '"action_index":', '"action_id":', '"property_mapping":', '"overrides":', '"value":',
    "[" * 40, "]" * 40, '{"a":' * 33,
]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(HOSTILE_FRAGMENTS) | st.text(max_size=4), max_size=40).map(
        lambda p: "".join(p).encode("utf-8", "surrogatepass")
    ),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from(DESTINATION_TYPES).map(lambda t: json.dumps(destination_body(t)).encode()),
)
content_types = st.sampled_from(
    [None, "application/json", "application/json; charset=utf-8", "text/json", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=x", "", "*/*"]
)  # fmt: skip


@pytest.mark.usefixtures("highest_request_limits")
@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(BODY_ROUTES), body=bodies, content_type=content_types)
def test_any_body_on_any_json_route_answers_below_500(
    api: ApiClient, route: tuple[str, str], body: bytes, content_type: str | None
) -> None:
    method, path = route
    headers = {"authorization": f"Bearer {api.key}"}
    if content_type is not None:  # None: no Content-Type header at all (the API client always sends one)
        headers["content-type"] = content_type
    result = api.gateway.handle(method, path, headers, {}, body)
    assert result.status < 500, (result.status, result.body[:300])
    if result.status >= 400:
        error = json.loads(result.body)["error"]
        assert set(error) == {"code", "message", "support_reference", "details"}
