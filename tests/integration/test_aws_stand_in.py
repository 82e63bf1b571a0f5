"""The AWS stand-in (moto, corrected by tests/local/) answers concurrent requests as AWS does: each request whole,
nothing another thread did lost. The dispatcher, fan-out and the local stack's pollers call it from many threads."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from tests.local.template import LocalStack

THREADS = 6


@pytest.fixture(autouse=True)
def threads_switching_often() -> Iterator[None]:
    """Threads take turns far more often than the interpreter's 5 ms, as on a loaded machine: races show at once."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def run_together(*work: Callable[[], Any]) -> list[Any]:
    """Each callable in a thread of its own, started together; their results (an exception raised is re-raised)."""
    start = threading.Barrier(len(work))

    def started(task: Callable[[], Any]) -> Any:
        start.wait()
        return task()

    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        return [future.result() for future in [pool.submit(started, task) for task in work]]


def test_messages_sent_while_others_are_received_and_deleted_are_each_received_once(aws: LocalStack) -> None:
    sqs: Any = boto3.client("sqs")
    queue = aws.queue_urls["DeliveriesQueue"]
    senders, per_sender = THREADS // 2, 300
    received: Counter[str] = Counter()
    lock = threading.Lock()
    all_sent = threading.Event()

    def send(sender: int) -> None:
        for start in range(0, per_sender, 10):
            entries = [{"Id": str(n), "MessageBody": f"{sender}-{start + n}"} for n in range(10)]
            assert not sqs.send_message_batch(QueueUrl=queue, Entries=entries).get("Failed")

    def send_all() -> None:
        run_together(*(lambda sender=sender: send(sender) for sender in range(senders)))
        all_sent.set()

    def receive_and_delete() -> None:
        while True:
            finished = all_sent.is_set()
            answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=300)
            messages = answer.get("Messages", [])
            if not messages and finished:
                return
            with lock:
                received.update(message["Body"] for message in messages)
            if messages:
                entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
                assert not sqs.delete_message_batch(QueueUrl=queue, Entries=entries).get("Failed")

    run_together(send_all, *([receive_and_delete] * (THREADS - senders)))

    sent = {f"{sender}-{n}" for sender in range(senders) for n in range(per_sender)}
    assert set(received) == sent, f"{len(sent - set(received))} of {len(sent)} messages lost"
    assert set(received.values()) == {1}, "a message was handed out twice within its visibility timeout"


def test_concurrent_updates_of_one_item_beside_cancelled_transactions_are_all_kept(aws: LocalStack) -> None:
    dynamodb: Any = boto3.client("dynamodb")
    table = aws.tables["DestinationsTable"]
    key = {"PK": {"S": "STAND_IN#counter"}, "SK": {"S": "COUNT"}}
    per_thread = 200

    def add_one_at_a_time() -> None:
        for _ in range(per_thread):
            dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="ADD #n :one",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )

    def cancel_transactions_on_it() -> None:
        # Each restores what it backed up of the item when it started: a stale count, unless requests are whole.
        for _ in range(per_thread):
            with contextlib.suppress(dynamodb.exceptions.TransactionCanceledException):
                dynamodb.transact_write_items(
                    TransactItems=[
                        {"Update": {"TableName": table, "Key": key, "UpdateExpression": "SET touched = :yes",
                                    "ExpressionAttributeValues": {":yes": {"BOOL": True}}}},
                        {"ConditionCheck": {"TableName": table, "Key": {**key, "SK": {"S": "ABSENT"}},
                                            "ConditionExpression": "attribute_exists(PK)"}},
                    ]
                )  # fmt: skip

    adders = THREADS - 1
    run_together(*([add_one_at_a_time] * adders), cancel_transactions_on_it)

    item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert int(item["n"]["N"]) == adders * per_thread
