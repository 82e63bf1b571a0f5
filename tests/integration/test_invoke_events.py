"""`make invoke` (the Docker-free `sam local invoke`) answers sensibly for every file in events/."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# On one worker: the module's single `make invoke` process (the `invoked` fixture) then runs once, not once per worker.
pytestmark = pytest.mark.xdist_group("make_invoke")

EXPECTED = {
    "api_create_destination.json": ("CreateDestinationFunction", 201),
    "api_create_destination_invalid.json": ("CreateDestinationFunction", 422),
    "api_list_destinations.json": ("ListDestinationsFunction", 200),
    "api_get_destination.json": ("GetDestinationFunction", 200),
    "api_get_destination_not_found.json": ("GetDestinationFunction", 404),
    "api_update_destination.json": ("UpdateDestinationFunction", 200),
    "api_patch_destination.json": ("PatchDestinationFunction", 200),
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
    "api_get_workspace_limits.json": ("GetWorkspaceLimitsFunction", 200),
    "api_update_workspace_limits.json": ("UpdateWorkspaceLimitsFunction", 200),
    "api_revoke_api_key_not_found.json": ("RevokeApiKeyFunction", 404),
    "api_rotate_api_key_not_found.json": ("RotateApiKeyFunction", 404),
    "api_admin_list_unhealthy_destinations.json": ("AdminListUnhealthyDestinationsFunction", 200),
    "api_admin_get_destination.json": ("AdminGetDestinationFunction", 200),
    "api_admin_list_deliveries.json": ("AdminListDeliveriesFunction", 200),
    "api_admin_list_dead_letters.json": ("AdminListDeadLettersFunction", 200),
    "api_admin_replay_dead_letters.json": ("AdminReplayDeadLettersFunction", 202),
    "api_admin_enable_destination.json": ("AdminEnableDestinationFunction", 200),
    "api_admin_list_parked_events.json": ("AdminListParkedEventsFunction", 200),
    "api_admin_recover_parked_events.json": ("AdminRecoverParkedEventsFunction", 202),
    "api_admin_list_audit_log.json": ("AdminListAuditLogFunction", 200),
    "api_rotate_signing_secret.json": ("RotateSigningSecretFunction", 409),
    "api_get_destination_estimate.json": ("GetDestinationEstimateFunction", 200),
    "api_pause_destination.json": ("PauseDestinationFunction", 200),
    "api_resume_destination.json": ("ResumeDestinationFunction", 200),
    "api_recover_deliveries.json": ("RecoverDeliveriesFunction", 202),
    "api_update_api_key_not_found.json": ("UpdateApiKeyFunction", 404),
}


@dataclass(frozen=True)
class Run:
    function: str
    event_file: str
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Invoked:
    exit_code: int
    output: str  # what `make invoke` printed


# Segment traffic goes to a closed local port: the transport fails.
UNREACHABLE_SEGMENT = (("NIMRIZ_EGRESS_OVERRIDES", json.dumps({"segment": "http://127.0.0.1:9"})),)
RUNS = [
    *(Run(function, event_file) for event_file, (function, _) in sorted(EXPECTED.items())),
    Run("AuthorizerFunction", "authorizer_request.json"),
    Run("AuthorizerFunction", "authorizer_request_invalid_key.json"),
    Run("FanOutFunction", "sqs_live_events.json"),
    Run("FanOutFunction", "sqs_live_events_invalid.json"),
    Run("DispatcherFunction", "sqs_delivery_jobs.json", UNREACHABLE_SEGMENT),
    Run("DeliveriesDeadLetterFunction", "sqs_deliveries_dlq.json"),
    Run("LiveEventsDeadLetterFunction", "sqs_live_events_dlq.json"),
    Run("ContinueRecoveryFunction", "sqs_recoveries_sweep.json"),
    Run("SweepHeldFunction", "schedule_sweep_held.json"),
]


@pytest.fixture(scope="module")
def invoked() -> dict[Run, Invoked]:
    """Every run of this module by one `python -m tests.local.invoke --each`: each as its own `make invoke` goes."""
    runs = [
        {"function": r.function, "event": f"events/{r.event_file}", "environment": dict(r.environment)} for r in RUNS
    ]
    process = subprocess.run(
        [sys.executable, "-m", "tests.local.invoke", "--each"],
        cwd=ROOT,
        input=json.dumps(runs),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return {run: Invoked(**result) for run, result in zip(RUNS, json.loads(process.stdout), strict=True)}


def last_json(stdout: str) -> dict[str, object]:
    # Handlers log JSON lines first; the invoke result is the final, indented JSON document.
    start = stdout.rindex("\n{\n") + 1 if "\n{\n" in stdout else stdout.index("{\n")
    result: dict[str, object] = json.loads(stdout[start:])
    return result


@pytest.mark.parametrize("event_file", sorted(EXPECTED))
def test_api_event_files_give_the_expected_status(invoked: dict[Run, Invoked], event_file: str) -> None:
    function, status = EXPECTED[event_file]
    result = invoked[Run(function, event_file)]
    assert result.exit_code == 0, result.output
    assert last_json(result.output)["statusCode"] == status


def test_authorizer_allows_the_dev_key_with_the_workspace_key_id_and_scopes_in_its_context(
    invoked: dict[Run, Invoked],
) -> None:
    result = invoked[Run("AuthorizerFunction", "authorizer_request.json")]
    assert result.exit_code == 0, result.output
    context = last_json(result.output)["context"]
    assert isinstance(context, dict)
    assert uuid.UUID(context.pop("api_key_id")).version == 4
    assert context == {
        "workspace_id": "ws_dev",
        "organization_id": "org_dev",
        "scopes": "destinations:read destinations:write deliveries:replay interstitial:resolve",
    }


def test_authorizer_rejects_an_unknown_key_like_lambda_reports_an_error(invoked: dict[Run, Invoked]) -> None:
    result = invoked[Run("AuthorizerFunction", "authorizer_request_invalid_key.json")]
    assert result.exit_code == 1
    assert last_json(result.output)["errorMessage"] == "Unauthorized"


def test_fan_out_consumes_live_events_and_dead_letters_invalid_ones_without_retry(invoked: dict[Run, Invoked]) -> None:
    for event_file in ("sqs_live_events.json", "sqs_live_events_invalid.json"):
        result = invoked[Run("FanOutFunction", event_file)]
        assert result.exit_code == 0, result.output
        assert last_json(result.output) == {"batchItemFailures": []}
    assert (
        "invalid canonical event dead-lettered" in invoked[Run("FanOutFunction", "sqs_live_events_invalid.json")].output
    )
    assert "invalid canonical event dead-lettered" not in invoked[Run("FanOutFunction", "sqs_live_events.json")].output


def test_dispatcher_reports_an_undeliverable_job_for_retry(invoked: dict[Run, Invoked]) -> None:
    # Segment traffic goes to a closed local port: the transport fails, so the record is handed back for a retry.
    result = invoked[Run("DispatcherFunction", "sqs_delivery_jobs.json", UNREACHABLE_SEGMENT)]
    assert result.exit_code == 0, result.output
    failures = last_json(result.output)["batchItemFailures"]
    assert isinstance(failures, list) and len(failures) == 1


def test_deliveries_dlq_consumer_turns_parked_jobs_into_dead_letters(invoked: dict[Run, Invoked]) -> None:
    result = invoked[Run("DeliveriesDeadLetterFunction", "sqs_deliveries_dlq.json")]
    assert result.exit_code == 0, result.output
    assert last_json(result.output) == {"batchItemFailures": []}


def test_the_hold_sweep_runs_on_its_schedule_and_through_the_recoveries_queue(invoked: dict[Run, Invoked]) -> None:
    scheduled = invoked[Run("SweepHeldFunction", "schedule_sweep_held.json")]
    assert scheduled.exit_code == 0, scheduled.output
    continued = invoked[Run("ContinueRecoveryFunction", "sqs_recoveries_sweep.json")]
    assert continued.exit_code == 0, continued.output
    assert last_json(continued.output) == {"batchItemFailures": []}


def test_live_events_dlq_consumer_parks_invalid_and_redriven_events(invoked: dict[Run, Invoked]) -> None:
    result = invoked[Run("LiveEventsDeadLetterFunction", "sqs_live_events_dlq.json")]
    assert result.exit_code == 0, result.output
    assert last_json(result.output) == {"batchItemFailures": []}


def test_every_function_has_an_event_file() -> None:
    from tests.local.template import functions

    exercised = {function for function, _ in EXPECTED.values()} | {
        "AuthorizerFunction",
        "FanOutFunction",
        "DispatcherFunction",
        "DeliveriesDeadLetterFunction",
        "LiveEventsDeadLetterFunction",
        "ContinueRecoveryFunction",
        "SweepHeldFunction",
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
        "sqs_recoveries_sweep.json",
        "schedule_sweep_held.json",
    }
    assert files - covered == set(), "add the new event file to this test"
