"""Idempotency records (storage/idempotency.py, service/idempotency.py): a key does its request's work once, a retry
gets the first answer, an expired record counts as absent, and a request that died before recording its answer is
taken over after its lease with the same nonce (design §9.7)."""

from __future__ import annotations

from typing import Any

import pytest

from nimriz_destinations.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from nimriz_destinations.service.idempotency import (
    LEASE_SECONDS,
    IdempotentOperation,
    IdempotentRequests,
    fingerprint,
)
from nimriz_destinations.storage.idempotency import IDEMPOTENCY_WINDOW_SECONDS, Claimed, Found, IdempotencyStore
from tests.local.template import LocalStack


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(aws: LocalStack, clock: Clock) -> IdempotencyStore:
    return IdempotencyStore(aws.tables["DestinationsTable"], clock=clock)


def counting_operation(performed: list[bytes], request: dict[str, Any] | None = None) -> IdempotentOperation[str]:
    def perform(nonce: bytes) -> str:
        performed.append(nonce)
        return f"result {len(performed)}"

    return IdempotentOperation(
        name="test.count",
        request=request or {"body": 1},
        perform=perform,
        recorded=lambda result: {"result": result},
        replayed=lambda recorded, nonce: str(recorded["result"]),
    )


def requests(store: IdempotencyStore) -> IdempotentRequests:
    return IdempotentRequests(store, lambda: b"stack key")


def test_of_two_claims_with_the_same_key_only_the_first_holds_it(store: IdempotencyStore) -> None:
    first = store.claim("ws_1", "key", "fingerprint", lease_seconds=60)
    second = store.claim("ws_1", "key", "fingerprint", lease_seconds=60)
    assert isinstance(first, Claimed) and isinstance(second, Found)
    assert second.record.nonce == first.nonce and second.record.answer is None


def test_a_request_while_the_first_is_at_work_answers_in_use_without_doing_the_work(store: IdempotencyStore) -> None:
    performed: list[bytes] = []
    operation = counting_operation(performed)
    store.claim("ws_1", "key", fingerprint(operation.name, operation.request), lease_seconds=60)
    with pytest.raises(IdempotencyKeyInUse):
        requests(store).run("ws_1", "key", operation)
    assert performed == []


def test_a_retry_gets_the_first_answer_and_the_work_is_done_once(store: IdempotencyStore) -> None:
    performed: list[bytes] = []
    first = requests(store).run("ws_1", "key", counting_operation(performed))
    again = requests(store).run("ws_1", "key", counting_operation(performed))
    assert (first.result, first.replayed) == ("result 1", False)
    assert (again.result, again.replayed) == ("result 1", True)
    assert len(performed) == 1


def test_another_request_with_the_same_key_is_refused(store: IdempotencyStore) -> None:
    requests(store).run("ws_1", "key", counting_operation([], {"body": 1}))
    with pytest.raises(IdempotencyKeyReused):
        requests(store).run("ws_1", "key", counting_operation([], {"body": 2}))


def test_a_record_past_its_24_hours_counts_as_absent_before_dynamodb_deletes_it(
    store: IdempotencyStore, clock: Clock
) -> None:
    performed: list[bytes] = []
    requests(store).run("ws_1", "key", counting_operation(performed))
    clock.now += IDEMPOTENCY_WINDOW_SECONDS + 1
    later = requests(store).run("ws_1", "key", counting_operation(performed))
    assert (later.result, later.replayed) == ("result 2", False)
    assert performed[0] != performed[1]


def test_a_request_that_never_recorded_its_answer_is_taken_over_after_its_lease_with_its_nonce(
    store: IdempotencyStore, clock: Clock
) -> None:
    operation = counting_operation([])
    died = store.claim("ws_1", "key", fingerprint(operation.name, operation.request), lease_seconds=LEASE_SECONDS)
    assert isinstance(died, Claimed)
    with pytest.raises(IdempotencyKeyInUse):
        requests(store).run("ws_1", "key", operation)
    clock.now += LEASE_SECONDS + 1
    performed: list[bytes] = []
    retried = requests(store).run("ws_1", "key", counting_operation(performed))
    assert performed == [died.nonce] and not retried.replayed


def test_work_that_fails_releases_the_key_for_a_retry(store: IdempotencyStore) -> None:
    def failing(nonce: bytes) -> str:
        raise RuntimeError("boom")

    operation = IdempotentOperation("test.count", {"body": 1}, failing, lambda r: {}, lambda r, n: "")
    with pytest.raises(RuntimeError):
        requests(store).run("ws_1", "key", operation)
    performed: list[bytes] = []
    assert requests(store).run("ws_1", "key", counting_operation(performed)).result == "result 1"


def test_keys_of_one_workspace_are_not_another_s(store: IdempotencyStore) -> None:
    performed: list[bytes] = []
    requests(store).run("ws_1", "key", counting_operation(performed))
    assert not requests(store).run("ws_2", "key", counting_operation(performed)).replayed
    assert len(performed) == 2


def test_derived_bytes_depend_on_the_nonce_the_purpose_and_the_stack_key(store: IdempotencyStore) -> None:
    one, other = IdempotentRequests(store, lambda: b"key one"), IdempotentRequests(store, lambda: b"key two")
    assert one.derive(b"n", "a") == one.derive(b"n", "a")
    assert len({one.derive(b"n", "a"), one.derive(b"m", "a"), one.derive(b"n", "b"), other.derive(b"n", "a")}) == 4
