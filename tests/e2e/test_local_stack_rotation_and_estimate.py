"""End to end over real sockets: a signing-secret rotation whose two signatures both verify at a real receiver during
the overlap and only the new one after, and a disabled action's volume estimate counting the live events sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from tests.e2e.conftest import E2E_DEV_KEY, RunningStack
from tests.e2e.test_local_stack_delivery import (
    BASE,
    CONFIG_CACHE_BOUND_SECONDS,
    SECRET,
    click,
    create_webhook,
    post_events,
    wait_for,
    workspace_client,
)
from tests.integration.test_signing_secret_rotation import signatures_verified
from tests.sinks.server import Sink
from tests.sinks.webhook_receiver import WebhookReceiver, webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
# Long enough for a live event to be fanned out and sent within it on a busy machine.
OVERLAP_SECONDS = 10


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    yield from workspace_client(local_stack, E2E_DEV_KEY)


@pytest.fixture
def receiver() -> Iterator[tuple[Sink, WebhookReceiver]]:
    handler = webhook_receiver(SECRET)
    with Sink(handler) as sink:
        yield sink, handler


def test_during_a_rotation_both_signatures_verify_and_afterwards_only_the_new_one(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, handler = receiver
    destination = create_webhook(api, f"{sink.url}/hooks/nimriz")
    response = api.post(f"{BASE}/{destination['id']}/rotate-signing-secret", json={"overlap_seconds": OVERLAP_SECONDS})
    assert response.status_code == 200, response.text
    new_secret = response.json()["signing_secret"]
    expires_at = datetime.fromisoformat(response.json()["previous_secret_expires_at"]).timestamp()

    post_events(local_stack, click())
    wait_for(lambda: handler.verified)  # a receiver still on the old secret accepts it
    assert time.time() < expires_at, "sent within the overlap"
    (request,) = sink.requests
    assert signatures_verified(request, [new_secret, SECRET]) == [[new_secret], [SECRET]]

    handler.secret = new_secret  # the receiver moves to the new secret
    time.sleep(max(0.0, expires_at - time.time()))
    post_events(local_stack, click())
    wait_for(lambda: len(handler.verified) == 2)
    assert handler.rejections == []
    assert signatures_verified(sink.requests[1], [new_secret, SECRET]) == [[new_secret]]
    assert new_secret not in api.get(f"{BASE}/{destination['id']}").text


def test_a_disabled_action_s_estimate_counts_the_events_sent_meanwhile(
    local_stack: RunningStack, api: httpx.Client, receiver: tuple[Sink, WebhookReceiver]
) -> None:
    sink, _ = receiver
    destination = create_webhook(api, f"{sink.url}/hooks/nimriz", enabled=False)
    estimate_url = f"{BASE}/{destination['id']}/estimate"
    before = api.get(estimate_url, params={"window": "1h"}).json()["estimate"]["actions"][0]
    assert (before["enabled"], before["matched"]) == (False, 0)

    post_events(local_stack, *(click() for _ in range(4)))

    def counted() -> int:
        shown = api.get(estimate_url, params={"window": "1h"})
        assert shown.status_code == 200, shown.text
        matched: int = shown.json()["estimate"]["actions"][0]["matched"]
        return matched

    assert wait_for(lambda: counted() == 4)
    time.sleep(CONFIG_CACHE_BOUND_SECONDS)  # anything queued by mistake would have been sent by now
    assert sink.requests == []
    assert api.get(f"{BASE}/{destination['id']}/deliveries").json()["deliveries"] == []
