"""Drives the delivery pipeline in-process, the way the Lambda event source mappings would: LiveEvents ->
fan-out -> Deliveries -> dispatcher, over the moto queues created from template.yaml."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3

from tests.local.pollers import EventSource, event_sources, poll_once
from tests.local.template import LocalStack

# The functions `Pipeline.run` invokes, each for every queue it reads: events in, deliveries, their dead letters, and
# the walks (recoveries, releases) continued on the Recoveries queue.
PIPELINE_FUNCTIONS = (
    "FanOutFunction",
    "DispatcherFunction",
    "DeliveriesDeadLetterFunction",
    "ContinueRecoveryFunction",
)


class Pipeline:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.all_sources = event_sources(stack)
        # Each function's first queue (the dispatcher's: Deliveries; its second is the released deliveries' FIFO).
        self.sources: dict[str, EventSource] = {}
        for source in self.all_sources:
            self.sources.setdefault(source.function, source)
        self.sqs: Any = boto3.client("sqs")
        # Function -> invocation time (seconds) instead of the template's Timeout, for tests that need short ones.
        self.invocation_seconds: dict[str, float] = {}

    def publish(self, *events: dict[str, Any] | str) -> None:
        for start in range(0, len(events), 10):
            chunk = events[start : start + 10]
            entries = [
                {"Id": str(i), "MessageBody": e if isinstance(e, str) else json.dumps(e)} for i, e in enumerate(chunk)
            ]
            self.sqs.send_message_batch(QueueUrl=self.stack.queue_urls["LiveEventsQueue"], Entries=entries)

    def in_flight(self) -> int:
        """Messages on the queues `run` polls: visible, in flight, or delayed."""
        total = 0
        for queue_url in [source.queue_url for source in self.all_sources if source.function in PIPELINE_FUNCTIONS]:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",  # a released delivery's retry, moved with its delay
                ],
            )["Attributes"]
            total += sum(int(count) for count in attributes.values())
        return total

    def run(self, *, timeout: float = 60.0, until: Callable[[], bool] | None = None) -> None:
        """Poll every queue until nothing is left in flight (retries included), or until `until()` holds when given
        (what is still queued then stays queued), or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until():
                return
            received = sum(self.poll(function) for function in PIPELINE_FUNCTIONS)
            if received:
                continue
            if self.in_flight() == 0:
                return
            time.sleep(0.2)  # waiting for a scheduled retry's visibility timeout
        waited_for = "the condition" if until is not None else "an empty pipeline"
        raise TimeoutError(f"no {waited_for} after {timeout}s: {self.in_flight()} messages in flight")

    def drain_concurrently(
        self, arrived: Callable[[], int], expected: int, *, environments: int, timeout: float
    ) -> None:
        """`environments` dispatcher execution environments polling at once, and one running the release's
        continuations, until `arrived()` reaches `expected` or the timeout passes."""
        deadline = time.monotonic() + timeout

        def poll(function: str, environment: int) -> None:
            while arrived() < expected and time.monotonic() < deadline:
                if not self.poll(function, environment=environment):
                    time.sleep(0.05)

        threads = [threading.Thread(target=poll, args=("DispatcherFunction", number)) for number in range(environments)]
        threads.append(threading.Thread(target=poll, args=("ContinueRecoveryFunction", 0)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def poll(self, function: str, environment: int = 0) -> int:
        """One batch of each of `function`'s queues, invoked as Lambda would (in execution environment
        `environment`); returns how many messages it received."""
        return sum(
            poll_once(
                source,
                wait_seconds=0,
                timeout_seconds=self.invocation_seconds.get(function),
                environment=environment,
            )
            for source in self.all_sources
            if source.function == function
        )

    def dead_lettered_events(self) -> list[tuple[str, dict[str, str]]]:
        messages = self.sqs.receive_message(
            QueueUrl=self.stack.queue_urls["LiveEventsDLQ"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return [(m["Body"], {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}) for m in messages]
