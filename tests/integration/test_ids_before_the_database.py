"""Ids and cursors are checked before any database call: a malformed or over-long path id answers what a
well-formed unknown id answers, an id in a body 422 at its path, a cursor 400 INVALID_CURSOR, and no DynamoDB
request carries any of them (with the stand-in refusing over-long keys as DynamoDB does, one would answer 500).
Driven through the API Gateway stand-in on moto, with generated ids and cursors of any length and content."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ApiClient, ApiResponse
from tests.factories import destination_body
from tests.faults import Fault, FaultInjector, Rule

BASE = "/api/integrations/destinations"
UNKNOWN_ID = "0b7c3a52-8d4e-4f0a-9a71-3f2d5c6e7a8b"
WORKSPACE = "ws_dev"  # the workspace of the API client's key
# Not ids: near misses, path-like text, and ids over DynamoDB's key limits once in a key (sort keys: 1,024 bytes,
# partition keys: 2,048 bytes; the delivery log's partition key holds the destination id).
MALFORMED_IDS = ["not-an-id", f"{UNKNOWN_ID}0", "..%2F..%2Fetc", "x" * 1100, "é" * 1100]

# (method, path with {id} for the destination id, body): every route that reads a destination by its path id.
DESTINATION_ROUTES = [
    ("GET", "{id}", None),
    ("PUT", "{id}", destination_body("segment")),
    ("DELETE", "{id}", None),
    ("POST", "{id}/test-send", None),
    ("POST", "{id}/preview", None),
    ("GET", "{id}/metrics?window=24h", None),
    ("GET", "{id}/deliveries", None),
    ("GET", "{id}/deliveries/" + UNKNOWN_ID, None),
    ("GET", "{id}/dead-letters", None),
    ("POST", "{id}/dead-letters/replay", {"ids": [UNKNOWN_ID]}),
]


def carrying(text: str) -> Callable[[Mapping[str, Any]], bool]:
    # In any case: path ids are lower-cased before use.
    return lambda params: text.lower() in json.dumps(params, default=str, ensure_ascii=False).lower()


def refuse_dynamodb_calls(faults: FaultInjector, where: Callable[[Mapping[str, Any]], bool]) -> Rule:
    """Every DynamoDB call `where` picks fails with a server error: an answer below 500 proves none was made."""
    return faults.fail("dynamodb", fault=Fault.SERVER_ERROR, where=where)


def answer(response: ApiResponse) -> tuple[int, str | None]:
    body = response.json() if response.text else {}
    return response.status, body.get("error", {}).get("code")


def create(api: ApiClient) -> dict[str, Any]:
    response = api.post(BASE, destination_body("segment"))
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


class TestPathIds:
    @pytest.mark.parametrize("route", DESTINATION_ROUTES, ids=[f"{m} {p}" for m, p, _ in DESTINATION_ROUTES])
    def test_a_malformed_destination_id_answers_like_an_unknown_one_without_reading_the_table(
        self, api: ApiClient, faults: FaultInjector, route: tuple[str, str, Any]
    ) -> None:
        method, path, body = route
        unknown = api.request(method, f"{BASE}/{path.format(id=UNKNOWN_ID)}", body)
        assert answer(unknown) == (404, "DESTINATION_NOT_FOUND"), unknown.text
        for malformed in MALFORMED_IDS:
            rule = refuse_dynamodb_calls(faults, carrying(malformed))

            response = api.request(method, f"{BASE}/{path.format(id=malformed)}", body)

            assert answer(response) == answer(unknown), (malformed[:20], response.text)
            assert rule.injected == 0

    def test_a_malformed_delivery_id_answers_like_an_unknown_one_without_reading_the_table(
        self, api: ApiClient, faults: FaultInjector
    ) -> None:
        deliveries = f"{BASE}/{create(api)['id']}/deliveries"
        unknown = api.get(f"{deliveries}/{UNKNOWN_ID}")
        assert answer(unknown) == (404, "DELIVERY_NOT_FOUND"), unknown.text
        for malformed in MALFORMED_IDS:
            rule = refuse_dynamodb_calls(faults, carrying(malformed))

            response = api.get(f"{deliveries}/{malformed}")

            assert answer(response) == answer(unknown), (malformed[:20], response.text)
            assert rule.injected == 0


class TestBodyIds:
    def test_a_malformed_dead_letter_id_to_replay_answers_422_at_its_path_without_reading_the_table(
        self, api: ApiClient, faults: FaultInjector
    ) -> None:
        replay = f"{BASE}/{create(api)['id']}/dead-letters/replay"
        for malformed in MALFORMED_IDS:
            rule = refuse_dynamodb_calls(faults, carrying(malformed))

            response = api.post(replay, {"ids": [UNKNOWN_ID, malformed]})

            assert answer(response) == (422, "VALIDATION_FAILED"), (malformed[:20], response.text)
            assert [detail["path"] for detail in response.json()["error"]["details"]] == ["ids[1]"]
            assert rule.injected == 0


LIST_ROUTE_NAMES = ["destinations", "deliveries", "dead letters", "parked events", "audit log"]


def list_routes(destination_id: str) -> dict[str, tuple[str, str, str]]:
    """Each list route: (path, partition key, sort key prefix) of the items its cursors continue."""
    log_pk = f"WS#{WORKSPACE}#DEST#{destination_id}"
    return {
        "destinations": (BASE, f"WS#{WORKSPACE}", "DEST#"),
        "deliveries": (f"{BASE}/{destination_id}/deliveries", log_pk, "DLV#"),
        "dead letters": (f"{BASE}/{destination_id}/dead-letters", log_pk, "DL#"),
        "parked events": ("/api/integrations/parked-events", f"PARKED#WS#{WORKSPACE}", "EVT#"),
        "audit log": ("/api/integrations/audit-log", f"AUDIT#WS#{WORKSPACE}", "ENTRY#"),
    }


def resumes_a_query(params: Mapping[str, Any]) -> bool:
    return "ExclusiveStartKey" in params


def cursor_of(decoded: dict[str, Any]) -> str:
    raw = json.dumps(decoded, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class TestCursors:
    @pytest.mark.parametrize("route", LIST_ROUTE_NAMES)
    def test_a_cursor_of_the_right_partition_but_not_an_item_key_answers_400_without_a_query(
        self, api: ApiClient, faults: FaultInjector, route: str
    ) -> None:
        path, pk, prefix = list_routes(create(api)["id"])[route]
        rule = refuse_dynamodb_calls(faults, resumes_a_query)
        # After the prefix: not ids, and sort keys past 1,024 bytes in cursors within the 2,048-character limit.
        for after_prefix in ["not-an-id", f"{UNKNOWN_ID}0", "x" * 1100, "é" * 520]:
            cursor = cursor_of({"pk": pk, "sk": prefix + after_prefix})
            assert len(cursor) <= 2048  # it reaches the cursor check

            response = api.get(f"{path}?cursor={cursor}")

            assert answer(response) == (400, "INVALID_CURSOR"), (after_prefix[:20], response.text)
        assert rule.injected == 0


# -- generated ids and cursors ---------------------------------------------------------------------------------


# Straight to the gateway stand-in, so ids and cursors arrive exactly as generated (no URL parsing on the way).
def send(client: ApiClient, method: str, path: str, body: Any = None, cursor: str | None = None) -> ApiResponse:
    headers = {"content-type": "application/json", "authorization": f"Bearer {client.key}"}
    payload = json.dumps(body).encode() if body is not None else None
    query = {"cursor": [cursor]} if cursor is not None else {}
    result = client.gateway.handle(method, path, headers, query, payload)
    return ApiResponse(result.status, result.headers, result.body.decode())


text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
# Up to 1,300 repetitions of one character (1 to 4 bytes in UTF-8): around and past every key limit.
runs = st.builds(lambda character, times: character * times, st.characters(blacklist_categories=["Cs"]),
                 st.integers(1, 1300))  # fmt: skip
well_formed = st.uuids().map(str)
# Any text, as a client puts it in a path segment (percent-encoded); well-formed ids in any case.
path_ids = st.one_of(text, runs, well_formed.map(str.upper)).map(lambda value: quote(value, safe="")).filter(bool)
body_ids = st.one_of(text, runs, well_formed)


@st.composite
def cursors(draw: st.DrawFn, pk: str, prefix: str) -> str:
    """Any cursor: ours with any sort key after the right prefix, another partition's, or any text at all."""
    kind = draw(st.sampled_from(["sort key", "partition", "text"]))
    if kind == "text":
        return draw(st.one_of(text, runs))
    sort_key = draw(st.one_of(text, runs))
    if kind == "sort key":
        decoded = {"pk": pk, "sk": prefix + sort_key}
    else:
        decoded = {"pk": draw(st.one_of(st.just(pk + "x"), text, runs)), "sk": sort_key}
    return cursor_of(decoded)


PROPERTY_SETTINGS = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def destination_id(api: ApiClient) -> str:
    """Shared by every example of a generated test (hypothesis runs them all within one set of fixtures)."""
    return str(create(api)["id"])


@pytest.mark.usefixtures("highest_request_limits")
class TestGeneratedInput:
    @PROPERTY_SETTINGS
    @given(malformed=path_ids, route=st.sampled_from(DESTINATION_ROUTES))
    def test_any_destination_id_answers_like_an_unknown_one(
        self, api: ApiClient, malformed: str, route: tuple[str, str, Any]
    ) -> None:
        method, path, body = route
        unknown = send(api, method, f"{BASE}/{path.format(id=UNKNOWN_ID)}", body)
        response = send(api, method, f"{BASE}/{path.format(id=malformed)}", body)
        assert answer(response) == answer(unknown), (malformed[:80], response.text[:300])

    @PROPERTY_SETTINGS
    @given(delivery_id=path_ids, key_id=path_ids, ids=st.lists(body_ids, min_size=1, max_size=3))
    def test_any_delivery_api_key_dead_letter_or_parked_event_id_answers_404_or_422(
        self, api: ApiClient, admin_api: ApiClient, destination_id: str, delivery_id: str, key_id: str, ids: list[str]
    ) -> None:
        destination, api_key = f"{BASE}/{destination_id}", f"/admin/workspaces/{WORKSPACE}/api-keys/{key_id}"
        answers = [
            send(api, "GET", f"{destination}/deliveries/{delivery_id}"),
            send(api, "POST", f"{destination}/dead-letters/replay", {"ids": ids}),
            send(api, "POST", "/api/integrations/parked-events/recover", {"ids": ids}),
            send(admin_api, "DELETE", api_key),
            send(admin_api, "POST", f"{api_key}/rotate", {"overlap_seconds": 0}),
        ]
        expected = [
            (404, "DELIVERY_NOT_FOUND"), (422, "VALIDATION_FAILED"), (422, "VALIDATION_FAILED"),
            (404, "API_KEY_NOT_FOUND"), (404, "API_KEY_NOT_FOUND"),
        ]  # fmt: skip
        assert [answer(response) for response in answers] == expected, (delivery_id[:80], key_id[:80], ids)

    @PROPERTY_SETTINGS
    @given(data=st.data(), route=st.sampled_from(LIST_ROUTE_NAMES))
    def test_any_cursor_answers_a_page_or_400_invalid_cursor(
        self, api: ApiClient, destination_id: str, data: st.DataObject, route: str
    ) -> None:
        path, pk, prefix = list_routes(destination_id)[route]
        cursor = data.draw(cursors(pk, prefix))
        response = send(api, "GET", path, cursor=cursor)
        if len(cursor) > 2048:  # the route's parameter validation answers before the cursor is read
            assert answer(response) == (422, "VALIDATION_FAILED"), (cursor[:80], response.text[:300])
        else:
            assert answer(response) in {(200, None), (400, "INVALID_CURSOR")}, (cursor[:80], response.text[:300])
