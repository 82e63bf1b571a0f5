"""End to end over real sockets: a destination changed by a JSON Merge Patch on the local stack (design §9.4)."""

from __future__ import annotations

import time
from collections.abc import Iterator

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
from tests.sinks.server import Sink
from tests.sinks.webhook_receiver import webhook_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("local_stack")]
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def api(local_stack: RunningStack) -> Iterator[httpx.Client]:
    yield from workspace_client(local_stack, E2E_DEV_KEY)


def test_a_patch_moves_a_webhook_to_a_new_url_keeping_its_secret_and_only_as_merge_patch(
    local_stack: RunningStack, api: httpx.Client
) -> None:
    moved_to = webhook_receiver(SECRET)
    with Sink(webhook_receiver(SECRET)) as old, Sink(moved_to) as new:
        destination = create_webhook(api, f"{old.url}/hook")
        url = f"{BASE}/{destination['id']}"

        as_json = api.patch(url, json={"credentials": {"url": f"{new.url}/hook"}})
        assert as_json.status_code == 415 and as_json.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        patched = api.patch(
            url,
            content=f'{{"name": "Moved", "credentials": {{"url": "{new.url}/hook"}}}}',
            headers={**MERGE_PATCH, "If-Match": '"v1"'},
        )
        assert patched.status_code == 200, patched.text
        assert patched.headers["ETag"] == '"v2"' and patched.json()["destination"]["name"] == "Moved"
        assert SECRET not in patched.text
        stale = api.patch(url, content='{"enabled": false}', headers={**MERGE_PATCH, "If-Match": '"v1"'})
        assert stale.status_code == 412

        time.sleep(CONFIG_CACHE_BOUND_SECONDS)  # live events see the change within the cache bound
        event = click()
        post_events(local_stack, event)
        (delivered,) = wait_for(lambda: moved_to.verified)  # signed with the secret the patch kept
        assert delivered.event_id == event["id"]
        assert old.requests == []
