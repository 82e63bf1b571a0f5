"""Searching a destination's delivery log (issue 20 item 4; design §3 "Searching the delivery log"): by event id,
event type, status and time range, combined, newest first, every page full but the last, across the log's shards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from nimriz_destinations import aws, runtime
from nimriz_destinations.clock import iso_utc
from nimriz_destinations.ids import live_delivery_id, new_delivery_id
from nimriz_destinations.storage import shard_pages
from nimriz_destinations.storage.deliveries import DeliverySummary
from nimriz_destinations.storage.delivery_items import DeliveryState
from nimriz_destinations.storage.delivery_states import DeliveryStates, DeliveryWrite, new_token
from tests.aws_usage import AwsMeter
from tests.conftest import ApiClient
from tests.local.template import LocalStack
from tests.sinks.server import Sink, SinkResponse

BASE = "/api/integrations/destinations"
DELIVERIES = 600
RARE_EVERY = 50  # one delivery in 50 is of the rare event type, another one in 50 dead-lettered
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rare_type(index: int) -> bool:
    return index % RARE_EVERY == 7


def dead_lettered(index: int) -> bool:
    return index % RARE_EVERY == 3


def retrying(index: int) -> bool:
    return index % (RARE_EVERY // 2) == 7  # every rare-type delivery, and as many others


@dataclass(frozen=True, slots=True)
class Log:
    destination_id: str
    actions: list[str]
    deliveries: list[DeliverySummary]  # newest first
    replayed_event: str  # an event with a live delivery per action and a replay

    @property
    def path(self) -> str:
        return f"{BASE}/{self.destination_id}/deliveries"

    def ids(self, keep: Any) -> list[str]:
        return [d.delivery_id for d in self.deliveries if keep(d)]


def at(index: int) -> datetime:
    return START + timedelta(seconds=index)


@pytest.fixture
def destination_id(aws: LocalStack, api: ApiClient) -> str:
    """A webhook destination with two actions."""
    with Sink(lambda _: SinkResponse()) as sink:
        body = {
            "name": "Searched webhook",
            "type": "generic_http",
            "credentials": {"url": f"{sink.url}/hook", "signing_secret": "whsec_search_0123456789abcdef"},
            "actions": [
                {"name": "First", "action_type": "send_webhook"},
                {"name": "Second", "action_type": "send_webhook"},
            ],
        }
        response = api.post(BASE, body)
        assert response.status == 201, response.text
    return str(response.json()["destination"]["id"])


@pytest.fixture
def log(aws: LocalStack, api: ApiClient, destination_id: str) -> Iterator[Log]:
    """DELIVERIES recorded deliveries of `destination_id`, one a second, written as the dispatcher records them:
    mostly delivered clicks, 1 in 50 a sale, 1 in 50 dead-lettered, 1 in 25 retrying."""
    created = api.get(f"{BASE}/{destination_id}").json()["destination"]
    actions = [action["id"] for action in created["actions"]]
    states = DeliveryStates(aws.tables["DestinationsTable"])
    deliveries = []
    for index in range(DELIVERIES):
        event_id = str(uuid.uuid4())
        action_id = actions[index % 2]
        moment = at(index)
        status = "dead_lettered" if dead_lettered(index) else "retrying" if retrying(index) else "delivered"
        deliveries.append(summary(created["id"], action_id, event_id, rare_type(index), status, moment, replay=False))
    replayed_event = deliveries[100].event_id
    deliveries.append(summary(created["id"], actions[1], replayed_event, False, "delivered", at(101), replay=False))
    deliveries.append(summary(created["id"], actions[0], replayed_event, False, "retrying", at(400), replay=True))
    for delivery in deliveries:
        write = DeliveryWrite(workspace_id="ws_dev", summary=delivery, entries=[], unsent=0)
        assert states.record(write, seen=DeliveryState(), token=new_token()) is None
    deliveries.sort(key=lambda d: d.delivery_id, reverse=True)
    yield Log(created["id"], actions, deliveries, replayed_event)


def summary(
    destination_id: str, action_id: str, event_id: str, rare: bool, status: str, moment: datetime, *, replay: bool
) -> DeliverySummary:
    millis = int(moment.timestamp() * 1000)
    delivery_id = new_delivery_id(millis) if replay else live_delivery_id(event_id, action_id, millis)
    return DeliverySummary(
        delivery_id=delivery_id,
        destination_id=destination_id,
        action_id=action_id,
        event_id=event_id,
        event_type="conversion.sale" if rare else "link.clicked",
        reason="replay" if replay else "live",
        status=status,
        attempts=1,
        last_http_status=200 if status == "delivered" else 500,
        last_error_class=None,
        last_message=None,
        created_at=iso_utc(moment),
        updated_at=iso_utc(moment),
    )


def pages(api: ApiClient, path: str, limit: int, **query: str) -> list[list[str]]:
    """Every page's delivery ids, following next_cursor to the end."""
    found: list[list[str]] = []
    cursor = None
    while True:
        parameters = {**query, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = api.get(f"{path}?{urlencode(parameters)}")
        assert response.status == 200, response.text
        body = response.json()
        found.append([delivery["id"] for delivery in body["deliveries"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(found) <= DELIVERIES, "the cursor never ends"


def assert_full_pages(paged: list[list[str]], limit: int, expected: list[str]) -> None:
    assert [delivery for page in paged for delivery in page] == expected
    assert all(len(page) == limit for page in paged[:-1]), [len(page) for page in paged]
    assert len(paged[-1]) <= limit and (paged[-1] or len(paged) == 1), "no empty page after a cursor"


def test_a_rare_event_type_fills_every_page_across_the_shards(api: ApiClient, log: Log) -> None:
    expected = log.ids(lambda d: d.event_type == "conversion.sale")
    assert len(expected) == DELIVERIES // RARE_EVERY

    for limit in (1, 5, 100):
        assert_full_pages(pages(api, log.path, limit, event_type="conversion.sale"), limit, expected)


def test_a_rare_status_fills_every_page_across_the_shards(api: ApiClient, log: Log) -> None:
    for status, limits in (("dead_lettered", (1, 7)), ("retrying", (1, 7)), ("delivered", (97,))):
        expected = log.ids(lambda d, status=status: d.status == status)
        for limit in limits:
            assert_full_pages(pages(api, log.path, limit, status=status), limit, expected)
    assert len(log.ids(lambda d: d.status == "dead_lettered")) == DELIVERIES // RARE_EVERY


def test_an_event_id_finds_every_delivery_of_the_event_its_replays_included(api: ApiClient, log: Log) -> None:
    expected = log.ids(lambda d: d.event_id == log.replayed_event)
    assert len(expected) == 3

    assert_full_pages(pages(api, log.path, 2, event_id=log.replayed_event), 2, expected)
    assert pages(api, log.path, 10, event_id=str(uuid.uuid4())) == [[]]


def test_since_and_until_bound_the_time_the_log_sorts_by(api: ApiClient, log: Log) -> None:
    since, until = at(120), at(180)
    expected = log.ids(lambda d: since <= datetime.fromisoformat(d.created_at) < until)
    assert len(expected) == 60

    assert_full_pages(pages(api, log.path, 7, since=iso_utc(since), until=iso_utc(until)), 7, expected)
    only_since = pages(api, log.path, 100, since=iso_utc(at(590)))
    assert only_since == [log.ids(lambda d: datetime.fromisoformat(d.created_at) >= at(590))]
    before_1970 = "1969-12-31T23:59:59Z"  # before the first instant an id's time can hold: everything is after it
    assert pages(api, log.path, 100, since=before_1970) == pages(api, log.path, 100)
    assert pages(api, log.path, 100, until=before_1970) == [[]]
    offset = (until + timedelta(hours=2)).isoformat().replace("+00:00", "+02:00")  # the same instant as `until`
    assert pages(api, log.path, 100, until=offset) == pages(api, log.path, 100, until=iso_utc(until))


def test_filters_combine(api: ApiClient, log: Log) -> None:
    since = at(200)
    rare_retrying = log.ids(lambda d: d.status == "retrying" and d.event_type == "conversion.sale")
    assert rare_retrying == log.ids(lambda d: d.event_type == "conversion.sale")
    first_action_rare_since = log.ids(
        lambda d: (
            d.event_type == "conversion.sale"
            and d.action_id == log.actions[1]
            and datetime.fromisoformat(d.created_at) >= since
        )
    )
    assert first_action_rare_since

    assert_full_pages(pages(api, log.path, 3, status="retrying", event_type="conversion.sale"), 3, rare_retrying)
    assert_full_pages(
        pages(api, log.path, 2, event_type="conversion.sale", action_id=log.actions[1], since=iso_utc(since)),
        2,
        first_action_rare_since,
    )
    replay = log.ids(lambda d: d.event_id == log.replayed_event and d.status == "retrying")
    assert pages(api, log.path, 5, event_id=log.replayed_event, status="retrying") == [replay]
    assert pages(api, log.path, 5, status="dead_lettered", event_type="conversion.sale") == [[]]


def test_a_cursor_continues_its_search_only(api: ApiClient, log: Log) -> None:
    first = api.get(f"{log.path}?{urlencode({'event_type': 'conversion.sale', 'limit': 4})}").json()
    assert len(first["deliveries"]) == 4 and first["next_cursor"]

    rest = api.get(f"{log.path}?{urlencode({'event_type': 'conversion.sale', 'cursor': first['next_cursor']})}")

    expected = log.ids(lambda d: d.event_type == "conversion.sale")
    assert [d["id"] for d in first["deliveries"] + rest.json()["deliveries"]] == expected
    other = api.get(f"{BASE}/{log.destination_id}/dead-letters?cursor={first['next_cursor']}")
    assert other.status == 400 and other.json()["error"]["code"] == "INVALID_CURSOR"


def test_a_cursor_below_the_range_searched_continues_into_nothing_without_an_invalid_key_range(
    api: ApiClient, log: Log
) -> None:
    """DynamoDB refuses `BETWEEN` with its bounds reversed (moto does not): no such Query may be sent."""
    cursor = api.get(f"{log.path}?limit=5").json()["next_cursor"]
    ranges: list[tuple[str, str]] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        values = params.get("ExpressionAttributeValues", {})
        if ":above" in values:
            ranges.append((values[":lowest"]["S"], values[":above"]["S"]))

    events = aws.dynamodb().meta.events
    events.register("before-parameter-build.dynamodb.Query", note)
    try:
        past = api.get(f"{log.path}?{urlencode({'since': iso_utc(at(599)), 'cursor': cursor})}")
    finally:
        events.unregister("before-parameter-build.dynamodb.Query", note)

    assert past.status == 200, past.text
    assert past.json() == {"deliveries": [], "next_cursor": None}
    assert all(lowest <= above for lowest, above in ranges), ranges


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"since": "2026-03-01"}, "since"),
        ({"since": "2026-02-30T00:00:00Z"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
        ({"event_type": "link.exploded"}, "event_type"),
        ({"status": "lost"}, "status"),
        ({"event_id": "x" * 1025}, "event_id"),
    ],
)
def test_bad_search_values_are_refused_with_their_field(
    api: ApiClient, destination_id: str, query: dict[str, str], path: str
) -> None:
    response = api.get(f"{BASE}/{destination_id}/deliveries?{urlencode(query)}")

    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert [detail["path"] for detail in error["details"]] == [f"query.{path}"], error


def test_a_search_the_read_budget_cannot_fill_is_refused_never_answered_short(
    api: ApiClient, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shard_pages, "READ_BUDGET_ITEMS", 100)

    response = api.get(f"{log.path}?{urlencode({'event_type': 'conversion.sale', 'limit': 10})}")

    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "SEARCH_TOO_BROAD"
    assert {detail["path"] for detail in error["details"]} == {"query.since", "query.until"}
    # What fits the budget is answered in full pages: a time range of fewer deliveries than the budget.
    narrowed = {"event_type": "conversion.sale", "since": iso_utc(at(505))}
    expected = log.ids(lambda d: d.event_type == "conversion.sale" and datetime.fromisoformat(d.created_at) >= at(505))
    assert len(expected) == 2
    assert_full_pages(pages(api, log.path, 1, **narrowed), 1, expected)


def test_dynamodb_calls_per_page_of_a_sparse_search(api: ApiClient, log: Log) -> None:
    """The figures design §3 quotes: DynamoDB calls for a page of 10 when 1 delivery in 50 matches, by filter."""
    calls: dict[str, int] = {}
    read_units: dict[str, float] = {}
    with AwsMeter().installed() as meter:
        runtime.reset()
        for name, query in {
            "event_type": {"event_type": "conversion.sale"},
            "status": {"status": "dead_lettered"},
            "event_id": {"event_id": log.replayed_event},
        }.items():
            meter.reset()
            response = api.get(f"{log.path}?{urlencode({**query, 'limit': 10})}")
            assert response.status == 200 and len(response.json()["deliveries"]) == min(
                10, 3 if name == "event_id" else 10
            )
            dynamodb = [call for call in meter.calls if call.service == "dynamodb"]
            calls[name] = len(dynamodb)
            read_units[name] = sum(call.read_units for call in dynamodb)
    print(f"\nDynamoDB per page of 10, 1 in {RARE_EVERY} matching: calls {calls}, read units {read_units}")
    # Every shard is read at least once (32); a sparse type reads most once more, an index page reads only
    # matching items and then their documents in one BatchGetItem; the destination is read once.
    assert calls["event_id"] <= 3
    assert calls["status"] <= 32 + 3
    assert calls["event_type"] <= 3 * 32 + 2
