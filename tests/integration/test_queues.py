"""The SQS adapter (storage/queues.py) on in-process moto: batching within SQS limits, and reading jobs back."""

from __future__ import annotations

from typing import Any

import boto3

from nimriz_destinations import runtime
from nimriz_destinations.jobs import DeliveryJob
from nimriz_destinations.storage.queues import received_jobs
from tests.local.template import LocalStack


def job(number: int) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=f"dlv_{number}",
        workspace_id="ws_1",
        organization_id="org_1",
        destination_id="dst_1",
        action_id="act_1",
        reason="live",
        event={"id": f"evt_{number}", "padding": "x" * 40_000},
        queued_at="2026-11-28T12:00:00.000Z",
    )


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs: Any = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=60
    ).get("Messages", []):
        messages += batch
    return messages


def test_more_jobs_than_one_batch_holds_all_arrive_once(aws: LocalStack) -> None:
    # 23 jobs of ~40 KiB: more than 10 messages and more than 256 KiB, so several batch calls by count and by size.
    jobs = [job(number) for number in range(23)]
    assert runtime.deliveries_queue().send_all({"all": jobs}) == set()

    bodies = [DeliveryJob.model_validate_json(message["Body"]) for message in drain(aws.queue_urls["DeliveriesQueue"])]
    assert sorted(body.delivery_id for body in bodies) == sorted(job.delivery_id for job in jobs)


def test_received_jobs_reads_each_job_and_names_the_messages_that_are_not_jobs(aws: LocalStack) -> None:
    runtime.deliveries_queue().send_all({"1": [job(1)], "2": [job(2)]})
    boto3.client("sqs").send_message(QueueUrl=aws.queue_urls["DeliveriesQueue"], MessageBody='{"not": "a job"}')
    messages = drain(aws.queue_urls["DeliveriesQueue"])
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "eventSourceARN": aws.queue_arns["DeliveriesQueue"],  # as Lambda's event source mapping gives it
            }
            for message in messages
        ]
    }

    received, malformed = received_jobs(event)

    assert sorted(item.job.delivery_id for item in received) == ["dlv_1", "dlv_2"]
    assert all(item.receive_count == 1 and item.receipt_handle for item in received)
    not_a_job = next(message["MessageId"] for message in messages if message["Body"] == '{"not": "a job"}')
    assert malformed == [not_a_job]
