"""SQS pollers that drive the template's SQS-triggered functions the way Lambda event source mappings do.

Batch size and queue come from each function's `SQS` event; a record is deleted only when the handler
succeeded for it (partial batch responses honoured), so failures come back after the visibility timeout
and the queue's own redrive policy moves them to the dead-letter queue.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

from .lambdas import invoke
from .template import LocalStack, functions


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


def poll_once(
    source: EventSource,
    *,
    wait_seconds: int = 1,
    timeout_seconds: float | None = None,
    environment: int = 0,
    batching_window: float = 0.0,
) -> int:
    """Receive one batch, invoke (with the template's Timeout unless `timeout_seconds` is given), delete what
    succeeded. Returns how many messages were received."""
    sqs = boto3.client("sqs")
    received: list[Any] = []
    window_ends = time.monotonic() + batching_window
    # Like the event source mapping, gather up to BatchSize messages (SQS hands out at most 10 per receive),
    # for up to the batching window once the first message is in.
    while len(received) < source.batch_size:
        messages = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(10, source.batch_size - len(received)),
            WaitTimeSeconds=wait_seconds if not received else 0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        received += messages
        if len(messages) == 10:
            continue
        if not received or time.monotonic() >= window_ends:
            break
        time.sleep(0.1)
    if not received:
        return 0
    try:
        response = invoke(
            source.function, sqs_event(source, received), timeout_seconds=timeout_seconds, environment=environment
        )
    except Exception:
        return len(received)  # the whole batch comes back after its visibility timeout, as with Lambda
    failed = set()
    if source.reports_failures and isinstance(response, dict):
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    done = [m for m in received if m["MessageId"] not in failed]
    for start in range(0, len(done), 10):
        sqs.delete_message_batch(
            QueueUrl=source.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start : start + 10])
            ],
        )
    return len(received)


# Execution environments run at once per function, at most: Lambda runs up to MaximumConcurrency, so one slow
# batch (e.g. requests to an endpoint that never answers) does not hold every other job of the queue.
LOCAL_ENVIRONMENTS = 8


class Pollers:
    def __init__(self, stack: LocalStack) -> None:
        self._sources = event_sources(stack)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for source in self._sources:
            for environment in range(min(source.max_concurrency, LOCAL_ENVIRONMENTS)):
                thread = threading.Thread(
                    target=self._run,
                    args=(source, environment),
                    name=f"poller-{source.function}-{environment}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def _run(self, source: EventSource, environment: int) -> None:
        while not self._stop.is_set():
            try:
                poll_once(source, environment=environment, batching_window=source.batching_window)
            except Exception:  # keep polling through transient errors, as the managed poller does
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
