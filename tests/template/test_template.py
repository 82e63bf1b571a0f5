"""template.yaml: SAM/cfn-lint validation, a real `sam build`, and the invariants nobody else checks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nimriz_destinations.observability import API_VERSION_RETIRED_METRIC
from tests.local.template import ROOT, TEMPLATE_PATH, functions, load_template, resources_of_type

SAM = str(Path(sys.executable).parent / "sam")
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

API_FUNCTIONS = {
    ("POST", "/api/integrations/destinations"): "CreateDestinationFunction",
    ("GET", "/api/integrations/destinations"): "ListDestinationsFunction",
    ("GET", "/api/integrations/destinations/{id}"): "GetDestinationFunction",
    ("PUT", "/api/integrations/destinations/{id}"): "UpdateDestinationFunction",
    ("PATCH", "/api/integrations/destinations/{id}"): "PatchDestinationFunction",
    ("DELETE", "/api/integrations/destinations/{id}"): "DeleteDestinationFunction",
    ("POST", "/api/integrations/destinations/{id}/test-send"): "TestSendFunction",
    ("GET", "/api/integrations/destinations/{id}/metrics"): "GetDestinationMetricsFunction",
    ("GET", "/api/integrations/parked-events"): "ListParkedEventsFunction",
    ("POST", "/api/integrations/parked-events/recover"): "RecoverParkedEventsFunction",
    ("GET", "/api/integrations/audit-log"): "ListAuditLogFunction",
    ("POST", "/api/integrations/interstitial/resolve"): "ResolveInterstitialFunction",
    ("GET", "/i/{token}"): "InterstitialPageFunction",
    ("POST", "/admin/workspaces/{workspace_id}/api-keys"): "CreateApiKeyFunction",
    ("GET", "/admin/workspaces/{workspace_id}/api-keys"): "ListApiKeysFunction",
    ("DELETE", "/admin/workspaces/{workspace_id}/api-keys/{key_id}"): "RevokeApiKeyFunction",
    ("POST", "/admin/workspaces/{workspace_id}/api-keys/{key_id}/rotate"): "RotateApiKeyFunction",
    ("GET", "/admin/workspaces/{workspace_id}/quotas"): "GetWorkspaceQuotasFunction",
    ("PUT", "/admin/workspaces/{workspace_id}/quotas"): "UpdateWorkspaceQuotasFunction",
}
ADMIN_FUNCTIONS = {
    "CreateApiKeyFunction",
    "ListApiKeysFunction",
    "RevokeApiKeyFunction",
    "RotateApiKeyFunction",
    "GetWorkspaceQuotasFunction",
    "UpdateWorkspaceQuotasFunction",
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


def api_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, event["Properties"])
        for logical_id, function in functions().items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    ]


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
    def test_sam_build_succeeds_and_the_layer_has_the_xray_sdk_but_no_boto3(self, tmp_path: Path) -> None:
        build_dir = tmp_path / "build"
        result = run_sam("build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"), timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        layer = build_dir / "CommonLayer" / "python"
        assert (layer / "nimriz_destinations" / "models.py").exists()
        assert not list((layer / "nimriz_destinations").rglob("__pycache__"))
        # Binary wheels for Lambda's python3.12 on arm64, whatever machine builds it.
        assert list((layer / "pydantic_core").glob("_pydantic_core.cpython-312-aarch64-linux-gnu.so"))
        assert list((layer / "wrapt").glob("*.cpython-312-aarch64-linux-gnu.so"))
        assert (layer / "aws_xray_sdk" / "core").is_dir()  # Powertools Tracer's SDK
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
        assert layer["Metadata"]["BuildMethod"] == "makefile"  # layers/common/Makefile installs for the runtime
        makefile = (ROOT / "layers" / "common" / "Makefile").read_text()
        assert f"--python-version {globals_['Runtime'].removeprefix('python')}" in makefile
        assert layer["Properties"]["CompatibleRuntimes"] == [globals_["Runtime"]]
        assert [layer["Metadata"]["BuildArchitecture"]] == globals_["Architectures"] == ["arm64"]
        assert "--platform manylinux2014_aarch64" in makefile
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
        assert writers == {
            "CreateDestinationFunction",
            "UpdateDestinationFunction",
            "PatchDestinationFunction",
            "DeleteDestinationFunction",
        }

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

    def test_the_audit_log_is_only_read_by_its_list_function_and_written_with_the_changes_it_records(self) -> None:
        assert actions_of("ListAuditLogFunction") == {"dynamodb:Query"}
        # Create/update/delete write the entry first and delete it again if their change fails.
        for writer in (
            "CreateDestinationFunction",
            "UpdateDestinationFunction",
            "PatchDestinationFunction",
            "DeleteDestinationFunction",
        ):
            assert {"dynamodb:PutItem", "dynamodb:DeleteItem"} <= actions_of(writer), writer
            environment = functions()[writer]["Properties"]["Environment"]["Variables"]
            assert environment["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}, writer

    def test_the_dispatcher_may_delete_only_audit_entries(self) -> None:
        # An auto-disable is audited (actor `system`); its entry is withdrawn when another change came first.
        (deletes,) = [s for s in statements("DispatcherFunction") if "dynamodb:DeleteItem" in str(s["Action"])]
        assert deletes["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["AUDIT#*"]
        environment = functions()["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
        assert environment["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}

    def test_create_and_update_read_the_workspace_s_destinations_for_its_evaluation_budget(self) -> None:
        # The unsaved preview checks each filter's budget alone and still touches nothing.
        for writer in ("CreateDestinationFunction", "UpdateDestinationFunction", "PatchDestinationFunction"):
            assert "dynamodb:Query" in actions_of(writer), writer
        assert "Policies" not in functions()["PreviewNewDestinationFunction"]["Properties"]

    def test_metrics_read_the_destination_and_its_counters_only(self) -> None:
        assert actions_of("GetDestinationMetricsFunction") == {"dynamodb:GetItem", "dynamodb:Query"}

    def test_fan_out_may_add_to_the_counters_but_not_put_or_delete(self) -> None:
        reads = {"dynamodb:GetItem", "dynamodb:Query"}  # configs and quotas
        assert actions_of("FanOutFunction") == reads | {"dynamodb:UpdateItem", "sqs:SendMessage"}

    def test_the_dispatcher_puts_notices_only_on_the_live_events_queue_with_its_health_settings(self) -> None:
        (notices,) = [s for s in statements("DispatcherFunction") if s["Action"] == "sqs:SendMessage"]
        assert notices["Resource"] == {"Fn::GetAtt": ["LiveEventsQueue", "Arn"]}
        environment = functions()["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
        assert environment["LIVE_EVENTS_QUEUE_URL"] == {"Ref": "LiveEventsQueue"}
        assert environment["AUTO_DISABLE_AFTER_SECONDS"] == str(5 * 24 * 3600)  # 5 days, like Svix
        assert environment["AUTO_DISABLE_MIN_FAILURES"] == "20"
        assert int(environment["HEALTH_FAILING_AFTER_FAILURES"]) >= 1

    def test_updates_are_conditional_updates_not_puts(self) -> None:
        # The document is replaced with UpdateItem so the dispatcher's health attributes on the item survive; the
        # function may put (and delete) items only in the audit partitions, for its audit entries.
        for function in ("UpdateDestinationFunction", "PatchDestinationFunction"):
            for statement in statements(function):
                actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
                if "dynamodb:PutItem" in actions:
                    leading_keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                    assert leading_keys == ["AUDIT#*"], statement
            assert "dynamodb:UpdateItem" in actions_of(function)

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


class TestAdminApi:
    def test_every_admin_route_is_on_the_admin_api_with_aws_iam(self) -> None:
        admin_routes = {logical_id for logical_id, e in api_events() if e["RestApiId"] == {"Ref": "AdminApi"}}
        assert admin_routes == ADMIN_FUNCTIONS
        for logical_id, event in api_events():
            if logical_id in ADMIN_FUNCTIONS:
                assert event["Path"].startswith("/admin/"), logical_id
                # Invoked through the function's resource policy, not with the caller's credentials.
                assert event["Auth"] == {"Authorizer": "AWS_IAM", "InvokeRole": "NONE"}, logical_id

    def test_the_admin_api_defaults_to_aws_iam_and_the_workspace_api_never_serves_admin_paths(self) -> None:
        apis = resources_of_type("AWS::Serverless::Api")
        assert apis["AdminApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
        assert "Authorizers" not in apis["AdminApi"]["Properties"]["Auth"]
        for logical_id, event in api_events():
            if event["RestApiId"] == {"Ref": "DestinationsApi"}:
                assert not event["Path"].startswith("/admin/"), logical_id

    def test_iam_failures_answer_403_with_the_api_error_shape(self) -> None:
        responses = resources_of_type("AWS::Serverless::Api")["AdminApi"]["Properties"]["GatewayResponses"]
        for response_type in ("MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "INCOMPLETE_SIGNATURE",
                              "EXPIRED_TOKEN", "ACCESS_DENIED"):  # fmt: skip
            assert responses[response_type]["StatusCode"] == "403", response_type
            body = json.loads(responses[response_type]["ResponseTemplates"]["application/json"])
            assert body["error"]["code"] == "FORBIDDEN"
            assert set(body["error"]) == {"code", "message", "support_reference", "details"}

    def test_admin_functions_touch_only_the_table(self) -> None:
        assert actions_of("AuthorizerFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
        # PutItem/DeleteItem on the key functions that change keys: their audit entries (written, or removed again).
        audit = {"dynamodb:PutItem", "dynamodb:DeleteItem"}
        assert actions_of("CreateApiKeyFunction") == {"dynamodb:PutItem"} | audit
        assert actions_of("ListApiKeysFunction") == {"dynamodb:Query"}
        assert actions_of("RevokeApiKeyFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | audit
        assert (
            actions_of("RotateApiKeyFunction")
            == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} | audit
        )
        assert actions_of("GetWorkspaceQuotasFunction") == {"dynamodb:GetItem"}
        assert actions_of("UpdateWorkspaceQuotasFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | audit
        for logical_id in ADMIN_FUNCTIONS | {"AuthorizerFunction"}:
            for statement in statements(logical_id):
                assert statement["Resource"] == {"Fn::GetAtt": ["DestinationsTable", "Arn"]}, logical_id


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


def alarms() -> dict[str, dict[str, Any]]:
    return {
        logical_id: alarm["Properties"] for logical_id, alarm in resources_of_type("AWS::CloudWatch::Alarm").items()
    }


def alarms_on(namespace: str, metric: str, dimension_value: Any) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in alarms().values()
        if alarm["Namespace"] == namespace
        and alarm["MetricName"] == metric
        and [dimension["Value"] for dimension in alarm["Dimensions"]] == [dimension_value]
    ]


def queue_name(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "QueueName"]}


class TestAlarms:
    def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(self) -> None:
        assert resources_of_type("AWS::SNS::Topic").keys() == {"AlarmTopic"}
        assert alarms()
        for logical_id, alarm in alarms().items():
            assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
            assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id
            assert alarm["TreatMissingData"] == "notBreaching", logical_id
            assert "docs/operations.md#" in alarm["AlarmDescription"]["Fn::Sub"], logical_id

    def test_every_runbook_anchor_an_alarm_names_exists_in_the_runbook(self) -> None:
        runbook = (ROOT / "docs/operations.md").read_text()
        anchors = {f"#{anchor}" for anchor in re.findall(r'<a id="([\w-]+)"></a>', runbook)}
        for logical_id, alarm in alarms().items():
            anchor = alarm["AlarmDescription"]["Fn::Sub"].rpartition("docs/operations.md")[2]
            assert anchor in anchors, logical_id

    def test_every_dead_letter_queue_alarms_on_its_depth_and_the_age_of_its_oldest_message(self) -> None:
        dead_letter_queues = [q for q in resources_of_type("AWS::SQS::Queue") if q.endswith("DLQ")]
        assert dead_letter_queues
        for queue in dead_letter_queues:
            assert alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue_name(queue)), queue
            assert alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage", queue_name(queue)), queue

    def test_every_work_queue_alarms_on_the_age_of_its_oldest_message(self) -> None:
        for queue in resources_of_type("AWS::SQS::Queue"):
            if not queue.endswith("DLQ"):
                assert alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage", queue_name(queue)), queue

    def test_every_function_alarms_on_its_errors_and_throttles(self) -> None:
        for function in functions():
            for metric in ("Errors", "Throttles"):
                (alarm,) = alarms_on("AWS/Lambda", metric, {"Ref": function})
                assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1, (function, metric)

    def test_the_dispatcher_alarms_before_its_duration_reaches_its_timeout(self) -> None:
        timeout_ms = functions()["DispatcherFunction"]["Properties"]["Timeout"] * 1000
        (alarm,) = alarms_on("AWS/Lambda", "Duration", {"Ref": "DispatcherFunction"})
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Threshold"] <= 0.8 * timeout_ms

    def test_a_retired_api_version_alarms_at_once_on_the_dispatchers_metric_for_every_destination_type(self) -> None:
        environment = load_template()["Globals"]["Function"]["Environment"]["Variables"]
        (alarm,) = alarms_on(
            environment["POWERTOOLS_METRICS_NAMESPACE"],
            API_VERSION_RETIRED_METRIC,
            environment["POWERTOOLS_SERVICE_NAME"],
        )
        assert [dimension["Name"] for dimension in alarm["Dimensions"]] == ["service"]
        assert (alarm["Statistic"], alarm["Threshold"], alarm["EvaluationPeriods"]) == ("Sum", 1, 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmDescription"]["Fn::Sub"].endswith("docs/operations.md#api-version-retired")

    def test_dynamodb_read_and_write_throttling_alarms(self) -> None:
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            assert alarms_on("AWS/DynamoDB", metric, {"Ref": "DestinationsTable"}), metric


class TestLogsAndDashboard:
    def test_every_function_logs_to_its_own_log_group_kept_for_the_retention_parameter(self) -> None:
        log_groups = resources_of_type("AWS::Logs::LogGroup")
        used = []
        for logical_id, function in functions().items():
            (name, log_group_id) = next(iter(function["Properties"]["LoggingConfig"]["LogGroup"].items()))
            assert name == "Ref", logical_id
            log_group = log_groups[log_group_id]["Properties"]
            assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
            assert log_group["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/"), logical_id
            used.append(log_group_id)
        assert len(set(used)) == len(used) == len(log_groups)

    def test_log_retention_is_a_parameter_of_cloudwatch_values_defaulting_to_30_days(self) -> None:
        parameter = load_template()["Parameters"]["LogRetentionDays"]
        assert parameter["Default"] == 30
        assert {30, 365, 3653} <= set(parameter["AllowedValues"]) and 2 not in parameter["AllowedValues"]

    def test_audit_retention_is_a_parameter_defaulting_to_a_year(self) -> None:
        assert load_template()["Parameters"]["AuditRetentionDays"]["Default"] == 365

    def test_the_dashboard_shows_queues_functions_the_table_and_the_delivery_metrics(self) -> None:
        (dashboard,) = resources_of_type("AWS::CloudWatch::Dashboard").values()
        template_text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        referenced = set(re.findall(r"\$\{([\w:]+)(?:\.\w+)?\}", template_text))
        body = json.loads(re.sub(r"\$\{[\w:.]+\}", "x", template_text))
        assert body["widgets"]
        assert set(resources_of_type("AWS::SQS::Queue")) | set(functions()) | {"DestinationsTable"} <= referenced
        expressions = [
            metric["expression"]
            for widget in body["widgets"]
            for metric in widget["properties"]["metrics"]
            if isinstance(metric, dict)
        ]
        for metric in ("Delivered", "Failed", "Throttled", "DeadLettered", "Latency"):
            assert any(f'Namespace="NimrizDestinations" MetricName="{metric}"' in e for e in expressions), metric
