"""`make invoke` (the Docker-free `sam local invoke`) answers sensibly for every file in events/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "api_create_destination.json": ("CreateDestinationFunction", 201),
    "api_create_destination_invalid.json": ("CreateDestinationFunction", 422),
    "api_list_destinations.json": ("ListDestinationsFunction", 200),
    "api_get_destination.json": ("GetDestinationFunction", 200),
    "api_get_destination_not_found.json": ("GetDestinationFunction", 404),
    "api_update_destination.json": ("UpdateDestinationFunction", 200),
    "api_delete_destination.json": ("DeleteDestinationFunction", 204),
    "api_test_send.json": ("TestSendFunction", 202),
    "api_list_deliveries.json": ("ListDeliveriesFunction", 200),
    "api_get_destination_metrics.json": ("GetDestinationMetricsFunction", 200),
    "api_get_delivery.json": ("GetDeliveryFunction", 404),
    "api_list_dead_letters.json": ("ListDeadLettersFunction", 200),
    "api_replay_dead_letters.json": ("ReplayDeadLettersFunction", 202),
    "api_list_parked_events.json": ("ListParkedEventsFunction", 200),
    "api_recover_parked_events.json": ("RecoverParkedEventsFunction", 202),
    "api_list_audit_log.json": ("ListAuditLogFunction", 200),
    "api_preview_destination.json": ("PreviewDestinationFunction", 200),
    "api_preview_new_destination.json": ("PreviewNewDestinationFunction", 200),
    "api_resolve_interstitial.json": ("ResolveInterstitialFunction", 200),
    "api_interstitial_page_invalid_token.json": ("InterstitialPageFunction", 400),
    "api_create_api_key.json": ("CreateApiKeyFunction", 201),
    "api_list_api_keys.json": ("ListApiKeysFunction", 200),
    "api_get_workspace_quotas.json": ("GetWorkspaceQuotasFunction", 200),
    "api_update_workspace_quotas.json": ("UpdateWorkspaceQuotasFunction", 200),
    "api_revoke_api_key_not_found.json": ("RevokeApiKeyFunction", 404),
    "api_rotate_api_key_not_found.json": ("RotateApiKeyFunction", 404),
}


def run_invoke(function: str, event_file: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.local.invoke", function, f"events/{event_file}"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def last_json(stdout: str) -> dict[str, object]:
    # Handlers log JSON lines first; the invoke result is the final, indented JSON document.
    start = stdout.rindex("\n{\n") + 1 if "\n{\n" in stdout else stdout.index("{\n")
    result: dict[str, object] = json.loads(stdout[start:])
    return result


@pytest.mark.parametrize("event_file", sorted(EXPECTED))
def test_api_event_files_give_the_expected_status(event_file: str) -> None:
    function, status = EXPECTED[event_file]
    result = run_invoke(function, event_file)
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout)["statusCode"] == status


def test_authorizer_allows_the_dev_key_with_the_workspace_key_id_and_scopes_in_its_context() -> None:
    result = run_invoke("AuthorizerFunction", "authorizer_request.json")
    assert result.returncode == 0, result.stderr
    context = last_json(result.stdout)["context"]
    assert isinstance(context, dict)
    assert uuid.UUID(context.pop("api_key_id")).version == 4
    assert context == {
        "workspace_id": "ws_dev",
        "organization_id": "org_dev",
        "scopes": "destinations:read destinations:write deliveries:replay interstitial:resolve",
    }


def test_authorizer_rejects_an_unknown_key_like_lambda_reports_an_error() -> None:
    result = run_invoke("AuthorizerFunction", "authorizer_request_invalid_key.json")
    assert result.returncode == 1
    assert last_json(result.stdout)["errorMessage"] == "Unauthorized"


def test_fan_out_consumes_live_events_and_dead_letters_invalid_ones_without_retry() -> None:
    for event_file in ("sqs_live_events.json", "sqs_live_events_invalid.json"):
        result = run_invoke("FanOutFunction", event_file)
        assert result.returncode == 0, result.stderr
        assert last_json(result.stdout) == {"batchItemFailures": []}
    assert (
        "invalid canonical event dead-lettered" in run_invoke("FanOutFunction", "sqs_live_events_invalid.json").stdout
    )


def test_dispatcher_reports_an_undeliverable_job_for_retry() -> None:
    # Segment traffic goes to a closed local port: the transport fails, so the record is handed back for a retry.
    closed_port = json.dumps({"segment": "http://127.0.0.1:9"})
    result = run_invoke("DispatcherFunction", "sqs_delivery_jobs.json", NIMRIZ_EGRESS_OVERRIDES=closed_port)
    assert result.returncode == 0, result.stderr
    failures = last_json(result.stdout)["batchItemFailures"]
    assert isinstance(failures, list) and len(failures) == 1


def test_deliveries_dlq_consumer_turns_parked_jobs_into_dead_letters() -> None:
    result = run_invoke("DeliveriesDeadLetterFunction", "sqs_deliveries_dlq.json")
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout) == {"batchItemFailures": []}


def test_live_events_dlq_consumer_parks_invalid_and_redriven_events() -> None:
    result = run_invoke("LiveEventsDeadLetterFunction", "sqs_live_events_dlq.json")
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout) == {"batchItemFailures": []}


def test_every_function_has_an_event_file() -> None:
    from tests.local.template import functions

    exercised = {function for function, _ in EXPECTED.values()} | {
        "AuthorizerFunction",
        "FanOutFunction",
        "DispatcherFunction",
        "DeliveriesDeadLetterFunction",
        "LiveEventsDeadLetterFunction",
    }
    assert set(functions()) - exercised == set()


def test_every_event_file_is_covered() -> None:
    files = {path.name for path in (ROOT / "events").glob("*.json")}
    covered = set(EXPECTED) | {
        "authorizer_request.json",
        "authorizer_request_invalid_key.json",
        "sqs_live_events.json",
        "sqs_live_events_invalid.json",
        "sqs_delivery_jobs.json",
        "sqs_deliveries_dlq.json",
        "sqs_live_events_dlq.json",
    }
    assert files - covered == set(), "add the new event file to this test"
