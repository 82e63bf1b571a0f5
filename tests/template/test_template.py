"""template.yaml: SAM/cfn-lint validation, a real `sam build`, and the invariants nobody else checks."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nimriz_destinations.limits import DEFAULT_LIMITS, RESOLVE_LIMITS, RESOLVE_METHOD, default_plan_name
from nimriz_destinations.observability import API_VERSION_RETIRED_METRIC
from nimriz_destinations.storage.destinations import HEALTH_INDEX
from tests.local.template import ROOT, TEMPLATE_PATH, functions, load_template, named_stack, resources_of_type

SAM = str(Path(sys.executable).parent / "sam")
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

SUPPORT_DESTINATION = "/admin/workspaces/{workspace_id}/destinations/{destination_id}"
API_FUNCTIONS = {
    ("POST", "/api/integrations/destinations"): "CreateDestinationFunction",
    ("GET", "/api/integrations/destinations"): "ListDestinationsFunction",
    ("GET", "/api/integrations/destinations/{id}"): "GetDestinationFunction",
    ("PUT", "/api/integrations/destinations/{id}"): "UpdateDestinationFunction",
    ("PATCH", "/api/integrations/destinations/{id}"): "PatchDestinationFunction",
    ("DELETE", "/api/integrations/destinations/{id}"): "DeleteDestinationFunction",
    ("POST", "/api/integrations/destinations/{id}/test-send"): "TestSendFunction",
    ("POST", "/api/integrations/destinations/{id}/rotate-signing-secret"): "RotateSigningSecretFunction",
    ("GET", "/api/integrations/destinations/{id}/metrics"): "GetDestinationMetricsFunction",
    ("GET", "/api/integrations/destinations/{id}/estimate"): "GetDestinationEstimateFunction",
    ("GET", "/api/integrations/parked-events"): "ListParkedEventsFunction",
    ("POST", "/api/integrations/parked-events/recover"): "RecoverParkedEventsFunction",
    ("GET", "/api/integrations/audit-log"): "ListAuditLogFunction",
    ("POST", "/api/integrations/interstitial/resolve"): "ResolveInterstitialFunction",
    ("GET", "/i/{token}"): "InterstitialPageFunction",
    ("POST", "/admin/workspaces/{workspace_id}/api-keys"): "CreateApiKeyFunction",
    ("GET", "/admin/workspaces/{workspace_id}/api-keys"): "ListApiKeysFunction",
    ("DELETE", "/admin/workspaces/{workspace_id}/api-keys/{key_id}"): "RevokeApiKeyFunction",
    ("POST", "/admin/workspaces/{workspace_id}/api-keys/{key_id}/rotate"): "RotateApiKeyFunction",
    ("PATCH", "/admin/workspaces/{workspace_id}/api-keys/{key_id}"): "UpdateApiKeyFunction",
    ("GET", "/admin/workspaces/{workspace_id}/quotas"): "GetWorkspaceQuotasFunction",
    ("PUT", "/admin/workspaces/{workspace_id}/quotas"): "UpdateWorkspaceQuotasFunction",
    ("GET", "/admin/workspaces/{workspace_id}/limits"): "GetWorkspaceLimitsFunction",
    ("PUT", "/admin/workspaces/{workspace_id}/limits"): "UpdateWorkspaceLimitsFunction",
    ("GET", "/admin/destinations"): "AdminListUnhealthyDestinationsFunction",
    ("GET", f"{SUPPORT_DESTINATION}"): "AdminGetDestinationFunction",
    ("GET", f"{SUPPORT_DESTINATION}/deliveries"): "AdminListDeliveriesFunction",
    ("GET", f"{SUPPORT_DESTINATION}/dead-letters"): "AdminListDeadLettersFunction",
    ("POST", f"{SUPPORT_DESTINATION}/dead-letters/replay"): "AdminReplayDeadLettersFunction",
    ("POST", f"{SUPPORT_DESTINATION}/enable"): "AdminEnableDestinationFunction",
    ("GET", "/admin/workspaces/{workspace_id}/parked-events"): "AdminListParkedEventsFunction",
    ("POST", "/admin/workspaces/{workspace_id}/parked-events/recover"): "AdminRecoverParkedEventsFunction",
    ("GET", "/admin/workspaces/{workspace_id}/audit-log"): "AdminListAuditLogFunction",
}
# Support without customers' keys (issue 19 §3): the workspace routes' answers, for any workspace.
SUPPORT_FUNCTIONS = {logical_id for logical_id in API_FUNCTIONS.values() if logical_id.startswith("Admin")}
ADMIN_FUNCTIONS = {
    "CreateApiKeyFunction",
    "ListApiKeysFunction",
    "RevokeApiKeyFunction",
    "RotateApiKeyFunction",
    "UpdateApiKeyFunction",
    "GetWorkspaceQuotasFunction",
    "UpdateWorkspaceQuotasFunction",
    "GetWorkspaceLimitsFunction",
    "UpdateWorkspaceLimitsFunction",
} | SUPPORT_FUNCTIONS
AUDIT_WRITES = {"dynamodb:PutItem", "dynamodb:DeleteItem"}
TOKEN_KEY = {"Ref": "InterstitialTokenSecret"}
IDEMPOTENCY_KEY = {"Ref": "IdempotencySecret"}


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


def environment_of(logical_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = functions()[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return variables


def actions_of(logical_id: str, *, idempotency_record: bool = True) -> set[str]:
    """The function's actions (`idempotency_record=False`: those of its Idempotency-Key's record left out)."""
    found: set[str] = set()
    for statement in statements(logical_id):
        if not idempotency_record and statement in idempotency_record_statements(logical_id):
            continue
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def idempotency_record_statements(logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for statement in statements(logical_id)
        if statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys") == ["IDEM#*"]
    ]


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
        # cfn-lint with its default rules (there is no .cfnlintrc): running the cfn-lint command as well was the
        # same check twice.
        result = run_sam("validate", "--lint", "--template-file", str(TEMPLATE_PATH))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_sam_validate_with_the_translator_passes(self) -> None:
        result = run_sam("validate", "--region", "us-east-1", "--template-file", str(TEMPLATE_PATH))
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.slow
    def test_sam_build_succeeds_and_the_layer_has_the_xray_sdk_but_no_boto3(self, tmp_path: Path) -> None:
        build_dir = tmp_path / "build"
        result = run_sam("build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"), timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        layer = build_dir / "CommonLayer" / "python"
        assert (layer / "nimriz_destinations" / "models" / "deliveries.py").exists()
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


# Loads every function's handler module in one fresh interpreter, each with exactly the environment the template gives
# it (Globals and its own; resources' names made up): a module checks its settings when it loads.
_LOAD_EVERY_HANDLER = """
import importlib, json, os, sys
from nimriz_destinations import runtime
from nimriz_destinations.settings import InvalidSettings
failures = {}
for logical_id, (folder, module, environment) in json.loads(sys.argv[1]).items():
    os.environ.clear()
    os.environ.update(environment)
    runtime.reset()
    sys.path.insert(0, folder)
    try:
        importlib.import_module(module)
    except InvalidSettings as exc:
        failures[logical_id] = str(exc)
    finally:
        sys.path.remove(folder)
print(json.dumps(failures))
"""


def handlers_loaded_with(environments: dict[str, dict[str, str]]) -> dict[str, str]:
    """Which functions' handler modules refuse to load with the given environments, and why."""
    plan = {}
    for logical_id, environment in environments.items():
        properties = functions()[logical_id]["Properties"]
        module = properties["Handler"].rpartition(".")[0]
        plan[logical_id] = (str(ROOT / properties["CodeUri"]), module, {**environment, **_PROCESS})
    command = [sys.executable, "-c", _LOAD_EVERY_HANDLER, json.dumps(plan)]
    env = {"PYTHONPATH": str(ROOT / "layers/common"), **_PROCESS}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    failures: dict[str, str] = json.loads(done.stdout)
    return failures


_PROCESS = {"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "1"}


class TestSettings:
    def test_every_function_loads_with_the_environment_the_template_gives_it(self) -> None:
        stack = named_stack()
        assert (
            handlers_loaded_with({logical_id: stack.function_environment(logical_id) for logical_id in functions()})
            == {}
        )

    def test_a_function_missing_a_variable_it_needs_does_not_load_and_names_it(self) -> None:
        stack = named_stack()
        environments = {}
        for logical_id, variable in (("TestSendFunction", "DELIVERIES_QUEUE_URL"),
                                     ("RotateApiKeyFunction", "IDEMPOTENCY_SECRET_ARN"),
                                     ("DispatcherFunction", "TABLE_NAME")):  # fmt: skip
            environments[logical_id] = stack.function_environment(logical_id)
            del environments[logical_id][variable]
        failures = handlers_loaded_with(environments)
        assert failures == {
            "TestSendFunction": "invalid settings: DELIVERIES_QUEUE_URL is not set",
            "RotateApiKeyFunction": "invalid settings: IDEMPOTENCY_SECRET_ARN is not set",
            "DispatcherFunction": "invalid settings: TABLE_NAME is not set",
        }

    def test_every_function_but_the_authorizer_is_traced(self) -> None:
        untraced = set()
        for logical_id, function in functions().items():
            properties = function["Properties"]
            module, _, handler = properties["Handler"].rpartition(".")
            tree = ast.parse((ROOT / properties["CodeUri"] / f"{module}.py").read_text())
            (definition,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == handler]
            if "trace_handler" not in {ast.unparse(decorator) for decorator in definition.decorator_list}:
                untraced.add(logical_id)
        assert untraced == {"AuthorizerFunction"}


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
            "RotateSigningSecretFunction",
        }
        assert actions_of("RotateSigningSecretFunction") & writes == {"secretsmanager:PutSecretValue"}

    def test_test_send_reads_the_table_and_the_stages_secrets_and_sends_only_to_the_deliveries_queue(self) -> None:
        # Reading the destination's secret: a validate-mode test-send sends its request itself.
        read_secret = "secretsmanager:GetSecretValue"
        assert actions_of("TestSendFunction", idempotency_record=False) == {
            "dynamodb:GetItem",
            "sqs:SendMessage",
            read_secret,
        }
        (sqs_statement,) = [s for s in statements("TestSendFunction") if s["Action"] == "sqs:SendMessage"]
        assert sqs_statement["Resource"] == {"Fn::GetAtt": ["DeliveriesQueue", "Arn"]}
        (secret_statement,) = [s for s in statements("TestSendFunction") if s["Action"] == read_secret]
        assert "secret:nimriz-destinations/${Stage}/*" in secret_statement["Resource"]["Fn::Sub"]

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
        assert actions_of("GetDestinationEstimateFunction") == {"dynamodb:GetItem", "dynamodb:Query"}

    def test_fan_out_may_add_to_the_counters_but_not_put_or_delete(self) -> None:
        reads = {"dynamodb:GetItem", "dynamodb:Query"}  # configs and quotas
        assert actions_of("FanOutFunction") == reads | {"dynamodb:UpdateItem", "sqs:SendMessage"}

    def test_the_dispatcher_sends_notices_to_live_events_and_moved_retries_to_deliveries_with_health_settings(
        self,
    ) -> None:
        (sends,) = [s for s in statements("DispatcherFunction") if s["Action"] == "sqs:SendMessage"]
        assert sends["Resource"] == [
            {"Fn::GetAtt": ["LiveEventsQueue", "Arn"]},
            {"Fn::GetAtt": ["DeliveriesQueue", "Arn"]},
        ]
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
                if statement["Resource"] in (TOKEN_KEY, IDEMPOTENCY_KEY):
                    continue  # the interstitial token key and the idempotency key: see the next tests
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

    def test_only_the_functions_deriving_secrets_read_the_idempotency_key(self) -> None:
        # The admin rotate (a key's id and secret) and the create (its ids and generated signing secret), design §9.7.
        readers = {
            (logical_id, statement["Action"])
            for logical_id in functions()
            for statement in statements(logical_id)
            if statement["Resource"] == IDEMPOTENCY_KEY
        }
        assert readers == {
            ("RotateApiKeyFunction", "secretsmanager:GetSecretValue"),
            ("CreateDestinationFunction", "secretsmanager:GetSecretValue"),
        }
        for logical_id, _ in readers:
            environment = functions()[logical_id]["Properties"]["Environment"]["Variables"]
            assert environment["IDEMPOTENCY_SECRET_ARN"] == IDEMPOTENCY_KEY

    def test_the_idempotent_workspace_routes_write_their_records_only_in_the_idempotency_partitions(self) -> None:
        for logical_id in ("TestSendFunction", "ReplayDeadLettersFunction", "RecoverDeliveriesFunction",
                           "PauseDestinationFunction", "ResumeDestinationFunction"):  # fmt: skip
            (record,) = idempotency_record_statements(logical_id)
            assert set(record["Action"]) == {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
            assert record["Resource"] == {"Fn::GetAtt": ["DestinationsTable", "Arn"]}

    def test_admin_functions_touch_only_the_table(self) -> None:
        assert actions_of("AuthorizerFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | USAGE_KEY_MAKING
        # PutItem/DeleteItem on the key functions that change keys: their audit entries (written, or removed again).
        audit = {"dynamodb:PutItem", "dynamodb:DeleteItem"}
        assert actions_of("CreateApiKeyFunction") == {"dynamodb:PutItem"} | audit
        assert actions_of("ListApiKeysFunction") == {"dynamodb:Query"}
        assert actions_of("RevokeApiKeyFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | audit
        assert (
            actions_of("RotateApiKeyFunction")
            == {
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "secretsmanager:GetSecretValue",  # the idempotency key only: see the test before
            }
            | audit
        )
        assert actions_of("UpdateApiKeyFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | audit
        assert actions_of("GetWorkspaceQuotasFunction") == {"dynamodb:GetItem"}
        assert actions_of("UpdateWorkspaceQuotasFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | audit
        assert actions_of("GetWorkspaceLimitsFunction") == {"dynamodb:GetItem", "apigateway:GET"}
        assert (
            actions_of("UpdateWorkspaceLimitsFunction")
            == {"dynamodb:GetItem", "dynamodb:UpdateItem", "apigateway:PATCH", "apigateway:DELETE"}
            | audit
            | USAGE_KEY_MAKING
        )
        for logical_id in (ADMIN_FUNCTIONS - SUPPORT_FUNCTIONS) | {"AuthorizerFunction"}:
            for statement in statements(logical_id):
                if str(statement["Action"]).startswith("['apigateway:") or statement["Action"] == "apigateway:GET":
                    continue  # usage plans and keys: TestRequestLimits
                if statement["Resource"] != IDEMPOTENCY_KEY:  # the rotate function's: see the test before
                    assert statement["Resource"] == {"Fn::GetAtt": ["DestinationsTable", "Arn"]}, logical_id


USAGE_KEY_MAKING = {"apigateway:GET", "apigateway:POST"}
APIGATEWAY_ARN = "arn:${AWS::Partition}:apigateway:${AWS::Region}::"


class TestRequestLimits:
    """Per-workspace limits with API Gateway's usage plans (design §9.6)."""

    def api(self) -> dict[str, Any]:
        return dict(resources_of_type("AWS::Serverless::Api")["DestinationsApi"]["Properties"])

    def test_the_authorizer_supplies_the_api_key_and_every_route_but_the_public_page_requires_one(self) -> None:
        api = self.api()
        assert api["ApiKeySourceType"] == "AUTHORIZER"
        assert api["Auth"]["ApiKeyRequired"] is True
        for logical_id, event in api_events():
            if event["RestApiId"] == {"Ref": "DestinationsApi"}:
                required = event.get("Auth", {}).get("ApiKeyRequired", True)
                assert required is (logical_id != "InterstitialPageFunction"), logical_id

    def test_the_default_plan_is_the_documented_defaults_with_the_resolve_route_higher(self) -> None:
        (plan,) = resources_of_type("AWS::ApiGateway::UsagePlan").values()
        properties = plan["Properties"]
        assert properties["UsagePlanName"] == {"Fn::Sub": default_plan_name("${Stage}")}
        assert properties["Throttle"] == {
            "RateLimit": DEFAULT_LIMITS.requests_per_second,
            "BurstLimit": DEFAULT_LIMITS.burst,
        }
        (stage,) = properties["ApiStages"]
        assert stage["ApiId"] == {"Ref": "DestinationsApi"}
        assert stage["Stage"] == {"Ref": "DestinationsApi.Stage"}
        resolve = {"RateLimit": RESOLVE_LIMITS.requests_per_second, "BurstLimit": RESOLVE_LIMITS.burst}
        assert stage["Throttle"] == {RESOLVE_METHOD: resolve}
        assert RESOLVE_LIMITS.requests_per_second > DEFAULT_LIMITS.requests_per_second
        assert RESOLVE_LIMITS.burst > DEFAULT_LIMITS.burst
        (route,) = [e for _, e in api_events() if e["Path"] == "/api/integrations/interstitial/resolve"]
        assert f"{route['Path']}/{route['Method'].upper()}" == RESOLVE_METHOD

    def test_over_the_limit_answers_429_rate_limited_with_retry_after_in_the_error_shape(self) -> None:
        responses = self.api()["GatewayResponses"]
        for response_type, status, code in (
            ("THROTTLED", "429", "RATE_LIMITED"),
            ("INVALID_API_KEY", "503", "INTEGRATIONS_UNAVAILABLE"),
        ):
            assert responses[response_type]["StatusCode"] == status
            assert responses[response_type]["ResponseParameters"] == {"Headers": {"Retry-After": "'1'"}}
            body = json.loads(responses[response_type]["ResponseTemplates"]["application/json"])
            assert body["error"]["code"] == code
            assert set(body["error"]) == {"code", "message", "support_reference", "details"}

    def test_the_stage_throttle_caps_all_workspaces_together_above_any_one(self) -> None:
        (settings,) = self.api()["MethodSettings"]
        assert settings["ThrottlingRateLimit"] > 10 * RESOLVE_LIMITS.requests_per_second / 2
        assert settings["ThrottlingBurstLimit"] > RESOLVE_LIMITS.burst

    def test_usage_plan_permissions_name_api_gateway_paths_only(self) -> None:
        for logical_id in ("AuthorizerFunction", "GetWorkspaceLimitsFunction", "UpdateWorkspaceLimitsFunction"):
            for statement in statements(logical_id):
                if "apigateway:" not in str(statement["Action"]):
                    continue
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for resource in resources:
                    assert resource["Fn::Sub"].startswith(f"{APIGATEWAY_ARN}/"), logical_id
        # The authorizer only makes keys and adds them to plans: it never changes or removes a plan or a key.
        (authorizer_statement,) = [s for s in statements("AuthorizerFunction") if "apigateway:" in str(s["Action"])]
        assert {r["Fn::Sub"] for r in authorizer_statement["Resource"]} == {
            f"{APIGATEWAY_ARN}/apikeys",
            f"{APIGATEWAY_ARN}/usageplans",
            f"{APIGATEWAY_ARN}/usageplans/*/keys",
        }

    def test_support_functions_read_what_their_workspace_twins_read_and_write_only_what_they_change(self) -> None:
        assert actions_of("AdminGetDestinationFunction") == actions_of("GetDestinationFunction")
        assert actions_of("AdminListDeliveriesFunction") == actions_of("ListDeliveriesFunction")
        assert actions_of("AdminListDeadLettersFunction") == actions_of("ListDeadLettersFunction")
        assert actions_of("AdminListParkedEventsFunction") == actions_of("ListParkedEventsFunction")
        # The changes, plus their audit entries, written only in the audit partitions.
        assert (
            actions_of("AdminReplayDeadLettersFunction")
            == actions_of("ReplayDeadLettersFunction", idempotency_record=False) | AUDIT_WRITES
        )
        assert (
            actions_of("AdminRecoverParkedEventsFunction") == actions_of("RecoverParkedEventsFunction") | AUDIT_WRITES
        )
        assert (
            actions_of("AdminEnableDestinationFunction") == {"dynamodb:GetItem", "dynamodb:UpdateItem"} | AUDIT_WRITES
        )
        for logical_id in SUPPORT_FUNCTIONS:
            for statement in statements(logical_id):
                actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
                if actions & AUDIT_WRITES:
                    assert actions == AUDIT_WRITES, logical_id
                    assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["AUDIT#*"]
            environment = functions()[logical_id]["Properties"]["Environment"]["Variables"]
            assert environment["OPERATOR_ID_KEY"] == environment_of("CreateApiKeyFunction")["OPERATOR_ID_KEY"]
            if actions_of(logical_id) & AUDIT_WRITES:
                assert environment["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}, logical_id
        (enable,) = [s for s in statements("AdminEnableDestinationFunction") if "dynamodb:UpdateItem" in s["Action"]]
        assert enable["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["WS#*"]
        for twin, queue in [("AdminReplayDeadLettersFunction", "DeliveriesQueue"),
                            ("AdminRecoverParkedEventsFunction", "LiveEventsQueue")]:  # fmt: skip
            (sends,) = [s for s in statements(twin) if s["Action"] == "sqs:SendMessage"]
            assert sends["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}, twin

    def test_failing_and_disabled_destinations_are_listed_from_a_sparse_keys_only_index(self) -> None:
        table = resources_of_type("AWS::DynamoDB::Table")["DestinationsTable"]["Properties"]
        (index,) = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == HEALTH_INDEX]
        # Only a failing or disabled destination has `health_state` (storage/destinations.py): the index is sparse.
        assert [key["AttributeName"] for key in index["KeySchema"]] == ["health_state", "health_since"]
        assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        (query, read) = statements("AdminListUnhealthyDestinationsFunction")
        assert query["Action"] == "dynamodb:Query"
        assert query["Resource"] == {"Fn::Sub": "${DestinationsTable.Arn}/index/" + HEALTH_INDEX}
        assert read["Action"] == "dynamodb:BatchGetItem"
        assert read["Resource"] == {"Fn::GetAtt": ["DestinationsTable", "Arn"]}


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


class TestReleasedDeliveriesQueue:
    """A resume's released deliveries go out through a FIFO queue, in order per destination (design §2.2, "Order")."""

    def test_it_is_a_fifo_queue_deduplicated_by_the_sender_with_the_deliveries_queues_timing(self) -> None:
        queues = resources_of_type("AWS::SQS::Queue")
        released, deliveries = queues["ReleasedDeliveriesQueue"]["Properties"], queues["DeliveriesQueue"]["Properties"]
        assert released["FifoQueue"] is True and released["ContentBasedDeduplication"] is False
        for name in ("VisibilityTimeout", "MessageRetentionPeriod"):
            assert released[name] == deliveries[name], name
        assert released["RedrivePolicy"]["maxReceiveCount"] == deliveries["RedrivePolicy"]["maxReceiveCount"]
        assert queues["ReleasedDeliveriesDLQ"]["Properties"]["FifoQueue"] is True  # SQS: a FIFO queue's DLQ is FIFO

    def test_the_dispatcher_reads_it_in_fifo_batches_and_the_dead_letter_consumer_its_dlq(self) -> None:
        sources = {(logical_id, p["Queue"]["Fn::GetAtt"][0]): p for logical_id, p in sqs_events()}
        assert sources[("DispatcherFunction", "ReleasedDeliveriesQueue")]["BatchSize"] == 10  # the FIFO maximum
        assert ("DeliveriesDeadLetterFunction", "ReleasedDeliveriesDLQ") in sources

    def test_only_what_releases_sends_to_it_and_the_dispatcher_returns_its_jobs_to_it(self) -> None:
        arn = {"Fn::GetAtt": ["ReleasedDeliveriesQueue", "Arn"]}
        senders = {
            logical_id
            for logical_id in functions()
            for statement in statements(logical_id)
            if "sqs:SendMessage" in statement["Action"] and arn in as_list(statement["Resource"])
        }
        assert senders == {"ResumeDestinationFunction", "ContinueRecoveryFunction"}
        readers = {
            logical_id
            for logical_id in functions()
            if environment_of(logical_id).get("RELEASED_DELIVERIES_QUEUE_URL") == {"Ref": "ReleasedDeliveriesQueue"}
        }
        assert readers == senders | {"DispatcherFunction"}
        (visibility,) = [s for s in statements("DispatcherFunction") if s["Action"] == "sqs:ChangeMessageVisibility"]
        assert arn in as_list(visibility["Resource"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def alarms() -> dict[str, dict[str, Any]]:
    return {
        logical_id: alarm["Properties"] for logical_id, alarm in resources_of_type("AWS::CloudWatch::Alarm").items()
    }


def alarms_on(namespace: Any, metric: str, dimension_value: Any) -> list[dict[str, Any]]:
    """The single-metric alarms on `metric` of one resource (metric-math alarms have no top-level metric)."""
    return [
        alarm
        for alarm in alarms().values()
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and [dimension["Value"] for dimension in alarm["Dimensions"]] == [dimension_value]
    ]


def composite_alarms() -> dict[str, dict[str, Any]]:
    composites = resources_of_type("AWS::CloudWatch::CompositeAlarm").items()
    return {logical_id: alarm["Properties"] for logical_id, alarm in composites}


def per_function_alarms(metric: str) -> set[str]:
    return {f"{function}{metric}Alarm" for function in functions()}


def queries(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's queries by id."""
    return {query["Id"]: query for query in alarm.get("Metrics", [])}


def metric_of(query: dict[str, Any]) -> tuple[Any, str, dict[str, Any], str, int]:
    """(namespace, metric name, dimensions by name, statistic, period) of a metric query."""
    stat = query["MetricStat"]
    metric = stat["Metric"]
    dimensions = {dimension["Name"]: dimension["Value"] for dimension in metric.get("Dimensions", [])}
    return metric["Namespace"], metric["MetricName"], dimensions, stat["Stat"], stat["Period"]


def metric_stats(alarm: dict[str, Any]) -> list[tuple[Any, str, dict[str, Any], str, int]]:
    """The metrics a metric-math alarm reads (`metric_of` each)."""
    return [metric_of(query) for query in queries(alarm).values() if "MetricStat" in query]


def math_alarm_on(metric: str, dimensions: dict[str, Any]) -> dict[str, Any]:
    """The one metric-math alarm that reads `metric` with exactly `dimensions`."""
    (alarm,) = [
        alarm
        for alarm in alarms().values()
        if any(found[1] == metric and found[2] == dimensions for found in metric_stats(alarm))
    ]
    return alarm


def returned_expression(alarm: dict[str, Any]) -> str:
    (returned,) = [query for query in alarm["Metrics"] if query.get("ReturnData", True)]
    expression: str = returned["Expression"]
    return expression


def volume_guard(alarm: dict[str, Any]) -> tuple[str, int] | None:
    """(query id, least value) of the alarm's `IF(<id> >= <n>, …)` minimum-volume guard, if it has one."""
    found = re.fullmatch(r"IF\((\w+) >= (\d+), \w+, 0\)", returned_expression(alarm))
    return (found.group(1), int(found.group(2))) if found else None


def metrics_namespace() -> Any:
    return load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]


def api_dimensions(api_logical_id: str) -> dict[str, Any]:
    """The dimensions API Gateway publishes one REST API stage's metrics under."""
    properties = resources_of_type("AWS::Serverless::Api")[api_logical_id]["Properties"]
    return {"ApiName": properties["Name"], "Stage": properties["StageName"]}


def queue_name(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "QueueName"]}


class TestAlarms:
    def test_every_alarm_but_the_per_function_ones_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(
        self,
    ) -> None:
        assert resources_of_type("AWS::SNS::Topic").keys() == {"AlarmTopic"}
        rolled_up = per_function_alarms("Errors") | per_function_alarms("Throttles")
        notifying = {**{k: v for k, v in alarms().items() if k not in rolled_up}, **composite_alarms()}
        assert notifying
        for logical_id, alarm in notifying.items():
            assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
            assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id
            assert alarm.get("TreatMissingData", "notBreaching") == "notBreaching", logical_id
            assert "docs/operations.md#" in alarm["AlarmDescription"]["Fn::Sub"], logical_id

    def test_every_runbook_anchor_an_alarm_names_exists_in_the_runbook(self) -> None:
        runbook = (ROOT / "docs/operations.md").read_text()
        anchors = {f"#{anchor}" for anchor in re.findall(r'<a id="([\w-]+)"></a>', runbook)}
        for logical_id, alarm in {**alarms(), **composite_alarms()}.items():
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

    def test_function_errors_and_throttles_page_once_through_one_composite_alarm_each(self) -> None:
        # Account concurrency exhausted throttles most functions at once: one page, not one per function.
        for metric in ("Errors", "Throttles"):
            for logical_id in per_function_alarms(metric):
                alarm = alarms()[logical_id]
                assert not alarm.get("AlarmActions") and not alarm.get("OKActions"), logical_id
            rule = composite_alarms()[f"Function{metric}CompositeAlarm"]["AlarmRule"]["Fn::Sub"]
            assert set(re.findall(r'ALARM\("\$\{(\w+)\}"\)', rule)) == per_function_alarms(metric), metric
            assert re.fullmatch(r'ALARM\("\$\{\w+\}"\)( OR ALARM\("\$\{\w+\}"\))*', rule.strip()), metric

    def test_the_dispatcher_duration_alarm_stays_quiet_while_the_deadline_math_holds(self) -> None:
        # design §8.2: a request starts only with its deadline and the record reserve left, so a run whose every
        # endpoint hangs still ends its last request by timeout - reserve and its records by timeout - margin.
        from nimriz_destinations.delivery.chunks import RECORD_RESERVE_SECONDS
        from nimriz_destinations.delivery.invocation import RETURN_MARGIN_SECONDS

        dispatcher = functions()["DispatcherFunction"]["Properties"]
        timeout_ms = dispatcher["Timeout"] * 1000
        request_ms = float(dispatcher["Environment"]["Variables"]["REQUEST_DEADLINE_SECONDS"]) * 1000
        (alarm,) = alarms_on("AWS/Lambda", "Duration", {"Ref": "DispatcherFunction"})
        assert alarm["Statistic"] == "Maximum"
        last_request_ends_ms = timeout_ms - RECORD_RESERVE_SECONDS * 1000
        assert request_ms < last_request_ends_ms < alarm["Threshold"]  # a hanging endpoint never reaches it
        assert alarm["Threshold"] == timeout_ms - RETURN_MARGIN_SECONDS * 1000  # past it: the plan overran
        assert alarm["EvaluationPeriods"] >= 2

    @pytest.mark.parametrize("api", ["DestinationsApi", "AdminApi"])
    def test_each_api_alarms_on_its_5xx_rate_counting_gateway_5xx_and_its_handled_500s(self, api: str) -> None:
        from nimriz_destinations.observability import API_SERVER_ERRORS_METRIC

        api_label = {"DestinationsApi": "workspace", "AdminApi": "admin"}[api]
        alarm = math_alarm_on("5XXError", api_dimensions(api))
        metrics = {metric[1]: metric for metric in metric_stats(alarm)}
        assert metrics["Count"][2] == api_dimensions(api) and metrics["Count"][3] == "Sum"
        handled = metrics[API_SERVER_ERRORS_METRIC]
        assert handled[0] == metrics_namespace()
        assert handled[2] == {"api": api_label, "service": "nimriz-destinations"}
        guard = volume_guard(alarm)
        assert guard is not None and metrics["Count"] == metric_of(queries(alarm)[guard[0]]) and guard[1] >= 10
        assert 1 < alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"]

    @pytest.mark.parametrize("api", ["DestinationsApi", "AdminApi"])
    def test_each_api_alarms_on_its_p99_latency_per_stage(self, api: str) -> None:
        alarm = math_alarm_on("Latency", api_dimensions(api))
        (latency,) = [metric for metric in metric_stats(alarm) if metric[1] == "Latency"]
        assert latency[3] == "p99"
        assert volume_guard(alarm) is not None
        assert 1 < alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"]

    @pytest.mark.parametrize(("alarm_id", "numerator"), [("DeliveryFailureRateAlarm", "Failed"),
                                                         ("DeadLetterRateAlarm", "DeadLettered")])  # fmt: skip
    def test_delivery_failure_and_dead_letter_rates_over_all_workspaces_page_only_when_sustained_at_volume(
        self, alarm_id: str, numerator: str
    ) -> None:
        alarm = alarms()[alarm_id]
        metrics = {metric[1]: metric for metric in metric_stats(alarm)}
        assert {"Delivered", numerator} <= set(metrics)
        for namespace, _, dimensions, stat, _ in metrics.values():
            # The live totals: no destination type, so every type counts; test-sends have their own names.
            assert (namespace, dimensions, stat) == (metrics_namespace(), {"service": "nimriz-destinations"}, "Sum")
        guard = volume_guard(alarm)
        assert guard is not None and guard[1] >= 10  # 1 failure of 2 at 3 a.m. does not page
        assert 1 < alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"]

    def test_parked_live_events_alarm(self) -> None:
        (alarm,) = alarms_on(metrics_namespace(), "LiveEventsParked", "nimriz-destinations")
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
        assert alarm["AlarmDescription"]["Fn::Sub"].endswith("docs/operations.md#parked-events")

    def test_a_retired_api_version_alarms_at_once_on_the_dispatchers_metric_for_every_destination_type(self) -> None:
        environment = load_template()["Globals"]["Function"]["Environment"]["Variables"]
        (alarm,) = alarms_on(
            metrics_namespace(),
            API_VERSION_RETIRED_METRIC,
            environment["POWERTOOLS_SERVICE_NAME"],
        )
        assert [dimension["Name"] for dimension in alarm["Dimensions"]] == ["service"]
        assert (alarm["Statistic"], alarm["Threshold"], alarm["EvaluationPeriods"]) == ("Sum", 1, 1)
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmDescription"]["Fn::Sub"].endswith("docs/operations.md#api-version-retired")

    def test_dynamodb_read_and_write_throttling_alarms_fire_only_on_sustained_throttling(self) -> None:
        # The runbook: a one-off spike settles by itself.
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            (alarm,) = alarms_on("AWS/DynamoDB", metric, {"Ref": "DestinationsTable"})
            assert alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) >= 2, metric

    def test_the_metric_namespace_carries_the_stage_and_every_alarm_on_our_metrics_uses_it(self) -> None:
        assert metrics_namespace() == {"Fn::Sub": "NimrizDestinations/${Stage}"}
        namespaces = [alarm.get("Namespace") for alarm in alarms().values()]
        namespaces += [metric[0] for alarm in alarms().values() for metric in metric_stats(alarm)]
        assert metrics_namespace() in namespaces
        assert all(ns is None or ns == metrics_namespace() or str(ns).startswith("AWS/") for ns in namespaces)


class TestLogsAndDashboard:
    def test_every_function_logs_to_its_own_log_group_kept_for_the_retention_parameter(self) -> None:
        log_groups = resources_of_type("AWS::Logs::LogGroup")
        log_groups = {logical_id: group for logical_id, group in log_groups.items() if "AccessLog" not in logical_id}
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

    def test_the_dashboard_shows_queues_functions_the_table_and_the_live_delivery_metrics(self) -> None:
        template_text, body = dashboard()
        referenced = set(re.findall(r"\$\{([\w:]+)(?:\.\w+)?\}", template_text))
        assert body["widgets"]
        assert set(resources_of_type("AWS::SQS::Queue")) | set(functions()) | {"DestinationsTable"} <= referenced
        # Per destination type, in the stage's namespace; live deliveries only (test-sends have their own names).
        for metric in ("Delivered", "Failed", "Throttled", "DeadLettered", "Latency"):
            search = f"SEARCH('{{NimrizDestinations/${{Stage}},destination_type,service}} MetricName=\\\"{metric}\\\"'"
            assert search in template_text, metric
        assert not re.search(r"\bTestSend(Delivered|Failed|Throttled|DeadLettered|Latency)\b", template_text)

    def test_the_dashboard_has_rows_for_both_apis_the_retry_backlog_and_parked_events(self) -> None:
        template_text, _ = dashboard()
        for api in ("DestinationsApi", "AdminApi"):
            name = api_dimensions(api)["ApiName"]["Fn::Sub"]
            for metric in ("4XXError", "5XXError", "Latency", "Count"):
                assert f'["AWS/ApiGateway", "{metric}", "ApiName", "{name}", "Stage", "${{Stage}}"' in template_text, (
                    api,
                    metric,
                )
        for metric in ("ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"):
            assert f'["AWS/SQS", "{metric}", "QueueName", "${{DeliveriesQueue.QueueName}}"' in template_text, metric
        assert '"NimrizDestinations/${Stage}", "LiveEventsParked"' in template_text

    @pytest.mark.parametrize("api", ["DestinationsApi", "AdminApi"])
    def test_each_api_writes_json_access_logs_kept_for_the_retention_parameter(self, api: str) -> None:
        setting = resources_of_type("AWS::Serverless::Api")[api]["Properties"]["AccessLogSetting"]
        (log_group_id, _) = setting["DestinationArn"]["Fn::GetAtt"]
        log_group = resources_of_type("AWS::Logs::LogGroup")[log_group_id]["Properties"]
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        line = json.loads(setting["Format"])
        assert line["requestId"] == "$context.requestId"
        assert line["workspace"] == "$context.authorizer.workspace_id"
        assert line["route"] == "$context.httpMethod $context.resourcePath"
        assert line["status"] == "$context.status"
        assert line["latency"] == "$context.responseLatency"
        # API Gateway writes to CloudWatch Logs with the account's role (one per account and region).
        account = resources_of_type("AWS::ApiGateway::Account")
        assert list(account) == ["ApiGatewayAccount"]
        assert "ApiGatewayAccount" in resources_of_type("AWS::Serverless::Api")[api]["DependsOn"]


def dashboard() -> tuple[str, dict[str, Any]]:
    """The dashboard body as written (with its ${...} substitutions) and parsed (substitutions blanked)."""
    (resource,) = resources_of_type("AWS::CloudWatch::Dashboard").values()
    template_text: str = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    return template_text, json.loads(re.sub(r"\$\{[\w:.]+\}", "x", template_text))
