"""template.yaml: SAM/cfn-lint validation, a real `sam build`, and the invariants nobody else checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.local.template import ROOT, TEMPLATE_PATH, functions, load_template, resources_of_type

SAM = str(Path(sys.executable).parent / "sam")
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

API_FUNCTIONS = {
    ("POST", "/api/integrations/destinations"): "CreateDestinationFunction",
    ("GET", "/api/integrations/destinations"): "ListDestinationsFunction",
    ("GET", "/api/integrations/destinations/{id}"): "GetDestinationFunction",
    ("PUT", "/api/integrations/destinations/{id}"): "UpdateDestinationFunction",
    ("DELETE", "/api/integrations/destinations/{id}"): "DeleteDestinationFunction",
    ("POST", "/api/integrations/destinations/{id}/test-send"): "TestSendFunction",
    ("GET", "/api/integrations/destinations/{id}/metrics"): "GetDestinationMetricsFunction",
    ("GET", "/api/integrations/parked-events"): "ListParkedEventsFunction",
    ("POST", "/api/integrations/parked-events/recover"): "RecoverParkedEventsFunction",
    ("POST", "/api/integrations/interstitial/resolve"): "ResolveInterstitialFunction",
    ("GET", "/i/{token}"): "InterstitialPageFunction",
}
TOKEN_KEY = {"Ref": "InterstitialTokenSecret"}


def run_sam(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SAM, *args], cwd=ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def statements(logical_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in functions()[logical_id]["Properties"].get("Policies", []):
        assert isinstance(policy, dict) and "Statement" in policy, f"{logical_id}: use explicit statements"
        found.extend(policy["Statement"])
    return found


def actions_of(logical_id: str) -> set[str]:
    found: set[str] = set()
    for statement in statements(logical_id):
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def sqs_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, event["Properties"])
        for logical_id, function in functions().items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "SQS"
    ]


class TestSamTooling:
    def test_sam_validate_lint_passes(self) -> None:
        result = run_sam("validate", "--lint", "--template-file", str(TEMPLATE_PATH))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_sam_validate_with_the_translator_passes(self) -> None:
        result = run_sam("validate", "--region", "us-east-1", "--template-file", str(TEMPLATE_PATH))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_cfn_lint_passes(self) -> None:
        cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
        result = subprocess.run([cfn_lint, str(TEMPLATE_PATH)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.slow
    def test_sam_build_succeeds_and_the_layer_has_no_boto3(self, tmp_path: Path) -> None:
        build_dir = tmp_path / "build"
        result = run_sam("build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"), timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        layer = build_dir / "CommonLayer" / "python"
        assert (layer / "nimriz_destinations" / "models.py").exists()
        assert (layer / "pydantic_core").exists()
        assert not (layer / "boto3").exists() and not (layer / "botocore").exists()
        shutil.rmtree(build_dir, ignore_errors=True)


class TestFunctions:
    def test_one_function_per_documented_endpoint(self) -> None:
        routes = {}
        for logical_id, function in functions().items():
            for event in function["Properties"].get("Events", {}).values():
                if event["Type"] == "Api":
                    routes[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = logical_id
        for route, logical_id in API_FUNCTIONS.items():
            assert routes[route] == logical_id
        assert len(set(API_FUNCTIONS.values())) == len(API_FUNCTIONS)

    def test_every_handler_file_exists(self) -> None:
        for logical_id, function in functions().items():
            properties = function["Properties"]
            module = properties["Handler"].rpartition(".")[0]
            assert (ROOT / properties["CodeUri"] / f"{module}.py").exists(), logical_id

    def test_layer_runtime_and_architecture_match_the_functions(self) -> None:
        globals_ = load_template()["Globals"]["Function"]
        (layer,) = resources_of_type("AWS::Serverless::LayerVersion").values()
        assert layer["Metadata"]["BuildMethod"] == globals_["Runtime"]
        assert layer["Properties"]["CompatibleRuntimes"] == [globals_["Runtime"]]
        assert [layer["Metadata"]["BuildArchitecture"]] == globals_["Architectures"]
        assert layer["Properties"]["CompatibleArchitectures"] == globals_["Architectures"]
        for function in functions().values():
            assert "Runtime" not in function["Properties"] and "Architectures" not in function["Properties"]

    def test_layer_requirements_do_not_bundle_boto3(self) -> None:
        lines = (ROOT / "layers/common/requirements.txt").read_text().lower().splitlines()
        packages = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        assert packages and not [p for p in packages if p.startswith(("boto3", "botocore"))]


class TestLeastPrivilege:
    def test_list_and_get_never_touch_secrets(self) -> None:
        assert actions_of("ListDestinationsFunction") == {"dynamodb:Query"}
        assert actions_of("GetDestinationFunction") == {"dynamodb:GetItem"}

    def test_only_create_update_delete_write_secrets(self) -> None:
        writes = {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"}
        writers = {logical_id for logical_id in functions() if actions_of(logical_id) & writes}
        assert writers == {"CreateDestinationFunction", "UpdateDestinationFunction", "DeleteDestinationFunction"}

    def test_test_send_reads_the_table_and_sends_only_to_the_deliveries_queue(self) -> None:
        assert actions_of("TestSendFunction") == {"dynamodb:GetItem", "sqs:SendMessage"}
        (sqs_statement,) = [s for s in statements("TestSendFunction") if s["Action"] == "sqs:SendMessage"]
        assert sqs_statement["Resource"] == {"Fn::GetAtt": ["DeliveriesQueue", "Arn"]}

    def test_parked_events_are_stored_by_their_consumer_and_recovered_only_onto_the_live_events_queue(self) -> None:
        assert actions_of("LiveEventsDeadLetterFunction") == {"dynamodb:PutItem"}
        assert actions_of("ListParkedEventsFunction") == {"dynamodb:Query"}
        (sqs_statement,) = [s for s in statements("RecoverParkedEventsFunction") if s["Action"] == "sqs:SendMessage"]
        assert sqs_statement["Resource"] == {"Fn::GetAtt": ["LiveEventsQueue", "Arn"]}
        environment = functions()["RecoverParkedEventsFunction"]["Properties"]["Environment"]["Variables"]
        assert environment["LIVE_EVENTS_QUEUE_URL"] == {"Ref": "LiveEventsQueue"}

    def test_metrics_read_the_destination_and_its_counters_only(self) -> None:
        assert actions_of("GetDestinationMetricsFunction") == {"dynamodb:GetItem", "dynamodb:Query"}

    def test_fan_out_may_add_to_the_counters_but_not_put_or_delete(self) -> None:
        assert actions_of("FanOutFunction") == {"dynamodb:Query", "dynamodb:UpdateItem", "sqs:SendMessage"}

    def test_the_dispatcher_puts_notices_only_on_the_live_events_queue_with_its_health_settings(self) -> None:
        (notices,) = [s for s in statements("DispatcherFunction") if s["Action"] == "sqs:SendMessage"]
        assert notices["Resource"] == {"Fn::GetAtt": ["LiveEventsQueue", "Arn"]}
        environment = functions()["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
        assert environment["LIVE_EVENTS_QUEUE_URL"] == {"Ref": "LiveEventsQueue"}
        assert environment["AUTO_DISABLE_AFTER_SECONDS"] == str(5 * 24 * 3600)  # 5 days, like Svix
        assert environment["AUTO_DISABLE_MIN_FAILURES"] == "20"
        assert int(environment["HEALTH_FAILING_AFTER_FAILURES"]) >= 1

    def test_updates_are_conditional_updates_not_puts(self) -> None:
        # The document is replaced with UpdateItem so the dispatcher's health attributes on the item survive.
        assert actions_of("UpdateDestinationFunction") & {"dynamodb:UpdateItem", "dynamodb:PutItem"} == {
            "dynamodb:UpdateItem"
        }

    def test_no_wildcard_actions_or_resources(self) -> None:
        for logical_id in functions():
            for statement in statements(logical_id):
                assert "*" not in str(statement["Action"]), logical_id
                assert statement["Resource"] != "*", logical_id

    def test_secret_access_is_scoped_to_the_stage_prefix(self) -> None:
        for logical_id in functions():
            for statement in statements(logical_id):
                actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
                if statement["Resource"] == TOKEN_KEY:
                    continue  # the interstitial token key: see the next test
                if any(action.startswith("secretsmanager:") for action in actions):
                    assert statement["Resource"]["Fn::Sub"].endswith(":secret:nimriz-destinations/${Stage}/*")

    def test_only_the_interstitial_functions_read_the_token_key_and_nothing_more(self) -> None:
        readers = {
            logical_id
            for logical_id in functions()
            for statement in statements(logical_id)
            if statement["Resource"] == TOKEN_KEY
        }
        assert readers == {"ResolveInterstitialFunction", "InterstitialPageFunction"}
        for logical_id in readers:
            (key_statement,) = [s for s in statements(logical_id) if s["Resource"] == TOKEN_KEY]
            assert key_statement["Action"] == "secretsmanager:GetSecretValue"
        assert actions_of("ResolveInterstitialFunction") == {"dynamodb:Query", "secretsmanager:GetSecretValue"}
        assert actions_of("InterstitialPageFunction") == {"secretsmanager:GetSecretValue"}

    def test_only_the_interstitial_page_is_public(self) -> None:
        public = {
            logical_id
            for logical_id, function in functions().items()
            for event in function["Properties"].get("Events", {}).values()
            if event["Type"] == "Api" and event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
        }
        assert public == {"InterstitialPageFunction"}


class TestQueues:
    def test_every_work_queue_has_a_redrive_policy_to_its_dlq(self) -> None:
        queues = resources_of_type("AWS::SQS::Queue")
        work_queues = {k: v for k, v in queues.items() if not k.endswith("DLQ")}
        assert work_queues, "no work queues"
        for logical_id, queue in work_queues.items():
            redrive = queue["Properties"]["RedrivePolicy"]
            assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] == logical_id.replace("Queue", "DLQ")
            assert redrive["maxReceiveCount"] >= 5

    def test_dead_letter_queues_keep_messages_14_days(self) -> None:
        for logical_id, queue in resources_of_type("AWS::SQS::Queue").items():
            if logical_id.endswith("DLQ"):
                assert queue["Properties"]["MessageRetentionPeriod"] == 1209600

    def test_visibility_timeout_is_at_least_six_times_the_consumer_timeout(self) -> None:
        default_timeout = load_template()["Globals"]["Function"]["Timeout"]
        queues = resources_of_type("AWS::SQS::Queue")
        for logical_id, function in functions().items():
            for event in function["Properties"].get("Events", {}).values():
                if event["Type"] != "SQS":
                    continue
                queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                timeout = function["Properties"].get("Timeout", default_timeout)
                assert queues[queue_id]["Properties"]["VisibilityTimeout"] >= 6 * timeout, logical_id

    def test_every_sqs_event_source_reports_partial_batch_failures(self) -> None:
        for logical_id, properties in sqs_events():
            assert properties.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], logical_id

    def test_sqs_batching_values_are_ones_lambda_accepts(self) -> None:
        for logical_id, properties in sqs_events():
            if properties.get("BatchSize", 10) > 10:
                assert properties.get("MaximumBatchingWindowInSeconds", 0) >= 1, logical_id
            concurrency = properties.get("ScalingConfig", {}).get("MaximumConcurrency")
            if concurrency is not None:
                assert 2 <= concurrency <= 1000, logical_id
