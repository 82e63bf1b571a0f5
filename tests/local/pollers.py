"""SQS pollers that drive the template's SQS-triggered functions the way Lambda event source mappings do.

Batch size and queue come from each function's `SQS` event; a record is deleted only when the handler
succeeded for it (partial batch responses honoured), so failures come back after the visibility timeout
and the queue's own redrive policy moves them to the dead-letter queue.
"""

from __future__ import annotations

import base64
import functools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from .lambdas import invoke
from .template import LocalStack, functions, load_handler

# The event source mapping long-polls (SQS's longest wait): a poll returns as soon as a message is in, and an idle queue
# costs one call per poller every 20 s instead of one a second.
LONG_POLL_SECONDS = 20


@functools.cache
def _sqs() -> Any:
    """The pollers' SQS client, one per process (clients are thread-safe, and making one takes tens of milliseconds):
    with a connection for every poller, and waiting longer than a long poll for its answer."""
    return boto3.client("sqs", config=Config(read_timeout=LONG_POLL_SECONDS + 10, max_pool_connections=64))


@dataclass(frozen=True)
class EventSource:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    reports_failures: bool
    max_concurrency: int = 1  # ScalingConfig.MaximumConcurrency: invocations Lambda runs at once for this queue
    batching_window: float = 0.0  # MaximumBatchingWindowInSeconds


def event_sources(stack: LocalStack) -> list[EventSource]:
    sources = []
    for logical_id, function in functions().items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] != "SQS":
                continue
            properties = event["Properties"]
            queue_id = properties["Queue"]["Fn::GetAtt"][0]
            sources.append(
                EventSource(
                    function=logical_id,
                    queue_url=stack.queue_urls[queue_id],
                    queue_arn=stack.queue_arns[queue_id],
                    batch_size=int(properties.get("BatchSize", 10)),
                    reports_failures="ReportBatchItemFailures" in properties.get("FunctionResponseTypes", []),
                    max_concurrency=int(properties.get("ScalingConfig", {}).get("MaximumConcurrency", 1)),
                    batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                )
            )
    return sources


def sqs_event(source: EventSource, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {
                    name: lambda_message_attribute(attribute)
                    for name, attribute in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


def lambda_message_attribute(attribute: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's attribute shape -> the one Lambda's SQS event uses (camelCase, binary as base64)."""
    binary = attribute.get("BinaryValue")
    return {
        "stringValue": attribute.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": attribute.get("StringListValues", []),
        "binaryListValues": attribute.get("BinaryListValues", []),
        "dataType": attribute["DataType"],
    }


def receive_batch(source: EventSource, *, wait_seconds: int = 1, batching_window: float = 0.0) -> list[Any]:
    """Like the event source mapping, gather up to BatchSize messages (SQS hands out at most 10 per receive), for up
    to the batching window once the first message is in."""
    sqs = _sqs()
    received: list[Any] = []
    window_ends = 0.0
    while len(received) < source.batch_size:
        messages = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(10, source.batch_size - len(received)),
            WaitTimeSeconds=wait_seconds if not received else 0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if messages and not received:  # the window opens with the first message, not with the long poll
            window_ends = time.monotonic() + batching_window
        received += messages
        if len(messages) == 10:
            continue
        if not received or time.monotonic() >= window_ends:
            break
        time.sleep(0.1)
    return received


def invoke_batch(
    source: EventSource, received: list[Any], *, timeout_seconds: float | None = None, environment: int = 0
) -> None:
    """Invoke the function with a received batch (with the template's Timeout unless `timeout_seconds` is given),
    then delete what succeeded."""
    try:
        response = invoke(
            source.function, sqs_event(source, received), timeout_seconds=timeout_seconds, environment=environment
        )
    except Exception:
        return  # the whole batch comes back after its visibility timeout, as with Lambda
    failed = set()
    if source.reports_failures and isinstance(response, dict):
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    sqs = _sqs()
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(
            QueueUrl=source.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
            ],
        )


def poll_once(
    source: EventSource,
    *,
    wait_seconds: int = 1,
    timeout_seconds: float | None = None,
    environment: int = 0,
    batching_window: float = 0.0,
) -> int:
    """Receive one batch and invoke the function with it; returns how many messages were received."""
    received = receive_batch(source, wait_seconds=wait_seconds, batching_window=batching_window)
    if received:
        invoke_batch(source, received, timeout_seconds=timeout_seconds, environment=environment)
    return len(received)


# Lambda's event source mapping for SQS starts with five pollers, each gathering batches, and runs each batch in a
# free execution environment, up to the mapping's MaximumConcurrency; so do these. A batch waits only when every
# environment is busy: one slow batch (requests to an endpoint that never answers) holds its own environment only.
# The pollers of a queue gather one batch at a time, so messages that arrive together go out together, in full
# batches (BatchSize, or all that came within the batching window), instead of a few to each poller; invoking the
# function is what runs concurrently.
POLLERS_PER_QUEUE = 5


class Pollers:
    def __init__(self, stack: LocalStack) -> None:
        self._sources = event_sources(stack)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for source in self._sources:
            # Each consumer's code is loaded (its INIT: the handler module's imports) before the stack reports ready,
            # so the first events of a session do not wait seconds for imports while their batching windows run.
            load_handler(source.function)
            environments = _Environments(source.max_concurrency)
            gathering = threading.Lock()
            for poller in range(min(POLLERS_PER_QUEUE, source.max_concurrency)):
                thread = threading.Thread(
                    target=self._run,
                    args=(source, environments, gathering),
                    name=f"poller-{source.function}-{poller}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def _run(self, source: EventSource, environments: _Environments, gathering: threading.Lock) -> None:
        while not self._stop.is_set():
            environment = environments.acquire(self._stop)
            if environment is None:
                return
            try:
                with gathering:
                    received = receive_batch(
                        source, wait_seconds=LONG_POLL_SECONDS, batching_window=source.batching_window
                    )
            except Exception:  # keep polling through transient errors, as the managed poller does
                environments.release(environment)
                self._stop.wait(0.5)
                continue
            if not received:
                environments.release(environment)
                continue
            threading.Thread(
                target=self._invoke,
                args=(source, received, environments, environment),
                name=f"invoke-{source.function}-{environment}",
                daemon=True,
            ).start()

    @staticmethod
    def _invoke(source: EventSource, received: list[Any], environments: _Environments, environment: int) -> None:
        try:
            invoke_batch(source, received, environment=environment)
        finally:
            environments.release(environment)

    def stop(self) -> None:
        """Pollers stop at their next turn; one in a long poll is not waited for (it ends with the AWS stand-in)."""
        self._stop.set()
        until = time.monotonic() + 2
        for thread in self._threads:
            thread.join(timeout=max(0.0, until - time.monotonic()))


class _Environments:
    """A function's execution environments: each runs one batch at a time; at most `count` exist."""

    def __init__(self, count: int) -> None:
        self._free = list(range(count - 1, -1, -1))  # environment 0 first: it is the one warmed up
        self._available = threading.Condition()

    def acquire(self, stop: threading.Event) -> int | None:
        with self._available:
            while not self._free:
                if stop.is_set():
                    return None
                self._available.wait(0.5)
            return self._free.pop()

    def release(self, environment: int) -> None:
        with self._available:
            self._free.append(environment)
            self._available.notify()
