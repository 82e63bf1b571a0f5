"""template.yaml as the single source of truth for local resources and function wiring.

Creates the table and queues the template declares (on whatever endpoint boto3 points at: in-process
moto or the local moto server) and gives each function its environment and handler, as Lambda would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from samtranslator.yaml_helper import yaml_parse

from . import ROOT
from .aws_server import correct_moto

TEMPLATE_PATH = ROOT / "template.yaml"

Handler = Callable[[dict[str, Any], Any], Any]
_LOCAL = uuid.UUID("6c6f6361-6c00-4000-8000-6e696d72697a")  # namespace of the local stack's made-up ids


@cache
def load_template() -> dict[str, Any]:
    template: dict[str, Any] = yaml_parse(TEMPLATE_PATH.read_text())
    return template


def resources_of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in load_template()["Resources"].items()
        if resource["Type"] == resource_type
    }


def functions() -> dict[str, dict[str, Any]]:
    return resources_of_type("AWS::Serverless::Function")


@dataclass
class LocalStack:
    """Physical names of what the template declares, as created locally."""

    stage: str
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queue_urls: dict[str, str] = field(default_factory=dict)  # logical id -> url
    queue_arns: dict[str, str] = field(default_factory=dict)
    secret_arns: dict[str, str] = field(default_factory=dict)  # logical id -> ARN (Ref of a secret is its ARN)
    usage_plan_ids: dict[str, str] = field(default_factory=dict)  # logical id -> id in the AWS stand-in

    @property
    def stack_id(self) -> str:
        """What `AWS::StackId` resolves to: CloudFormation's form, with a UUID that is stable per stage."""
        unique = uuid.uuid5(_LOCAL, self.stage)
        return f"arn:aws:cloudformation:us-east-1:123456789012:stack/nimriz-{self.stage}/{unique}"

    def ref(self, logical_id: str) -> str:
        if logical_id == "Stage":
            return self.stage
        if logical_id == "AWS::StackId":
            return self.stack_id
        parameters = load_template().get("Parameters", {})
        if logical_id in parameters:
            return str(parameters[logical_id]["Default"])
        if logical_id in self.tables:
            return self.tables[logical_id]
        if logical_id in self.queue_urls:
            return self.queue_urls[logical_id]
        if logical_id in self.secret_arns:
            return self.secret_arns[logical_id]
        if logical_id in self.usage_plan_ids:
            return self.usage_plan_ids[logical_id]
        api, _, attribute = logical_id.partition(".")
        if api in resources_of_type("AWS::Serverless::Api"):
            return self.stage if attribute == "Stage" else api_id(api)
        raise KeyError(f"cannot resolve Ref {logical_id} locally")

    def resolve(self, value: Any) -> Any:
        """Resolve the intrinsics the template uses in properties and environments."""
        if isinstance(value, dict) and len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self.ref(argument)
            if name == "Fn::Sub" and isinstance(argument, str):
                return re.sub(r"\$\{([\w:]+)\}", lambda found: self.ref(found.group(1)), argument)
            if name == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if name == "Fn::Split":
                delimiter, text = argument
                return str(self.resolve(text)).split(delimiter)
            if name == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                if attribute == "Arn" and logical_id in self.queue_arns:
                    return self.queue_arns[logical_id]
                if attribute == "QueueName" and logical_id in self.queue_urls:
                    return self.queue_urls[logical_id].rsplit("/", 1)[-1]
                raise KeyError(f"cannot resolve GetAtt {logical_id}.{attribute} locally")
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def function_environment(self, logical_id: str) -> dict[str, str]:
        template = load_template()
        variables = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
        function = functions()[logical_id]["Properties"]
        variables.update(function.get("Environment", {}).get("Variables", {}))
        return {name: str(self.resolve(value)) for name, value in variables.items()}

    def all_function_environments(self) -> dict[str, str]:
        """The union of every function's environment (one local process hosts them all)."""
        merged: dict[str, str] = {}
        for logical_id in functions():
            merged.update(self.function_environment(logical_id))
        return merged


def api_id(logical_id: str) -> str:
    """What an API's Ref (its id) is locally."""
    return f"local{logical_id.lower()}"


def function_environment_names() -> frozenset[str]:
    """Every environment variable template.yaml sets on a function (Globals included)."""
    template = load_template()
    names = set(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    for function in functions().values():
        names.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    return frozenset(names)


def _client(service: str) -> Any:
    """A client that creates stacks, for the endpoint and region boto3 points at now."""
    return _client_for(service, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_DEFAULT_REGION"))


@cache
def _client_for(service: str, endpoint_url: str | None, region: str | None) -> Any:
    """One per service, endpoint and region for the whole process: a new session loads botocore's models again (tens
    of ms a client), and moto gives boto3 a new default session with each mock."""
    return boto3.session.Session().client(service, endpoint_url=endpoint_url, region_name=region)  # type: ignore[call-overload]


def create_stack(*, stage: str = "local", name_prefix: str = "nimriz-local") -> LocalStack:
    correct_moto()
    stack = LocalStack(stage=stage)
    dynamodb = _client("dynamodb")
    for logical_id, resource in resources_of_type("AWS::DynamoDB::Table").items():
        properties = stack.resolve(resource["Properties"])
        table_name = f"{name_prefix}-{logical_id}"
        request = {
            "TableName": table_name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if "GlobalSecondaryIndexes" in properties:
            request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        dynamodb.create_table(**request)
        if properties.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(
                TableName=table_name, TimeToLiveSpecification=properties["TimeToLiveSpecification"]
            )
        stack.tables[logical_id] = table_name

    sqs: Any = _client("sqs")  # attribute names come from the template, not literals
    queues = resources_of_type("AWS::SQS::Queue")
    # Dead-letter queues first: work queues reference their ARNs.
    ordered = sorted(queues, key=lambda logical_id: "RedrivePolicy" in queues[logical_id].get("Properties", {}))
    for logical_id in ordered:
        properties = stack.resolve(queues[logical_id].get("Properties", {}))
        attributes: dict[str, Any] = {
            name: str(properties[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")
            if name in properties
        }
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        for name in ("FifoQueue", "ContentBasedDeduplication"):  # booleans, which SQS takes as "true" / "false"
            if name in properties:
                attributes[name] = str(properties[name]).lower()
        url = sqs.create_queue(QueueName=queue_name(f"{name_prefix}-{logical_id}", properties), Attributes=attributes)[
            "QueueUrl"
        ]
        stack.queue_urls[logical_id] = url
        stack.queue_arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    secretsmanager = _client("secretsmanager")
    for logical_id, resource in resources_of_type("AWS::SecretsManager::Secret").items():
        properties = stack.resolve(resource["Properties"])
        length = int(properties.get("GenerateSecretString", {}).get("PasswordLength", 32))
        value = secrets.token_urlsafe(length)[:length]  # what GenerateSecretString would make: a random string
        stack.secret_arns[logical_id] = secretsmanager.create_secret(Name=properties["Name"], SecretString=value)["ARN"]

    apigateway = _client("apigateway")
    for logical_id, resource in resources_of_type("AWS::ApiGateway::UsagePlan").items():
        properties = stack.resolve(resource["Properties"])
        plan = apigateway.create_usage_plan(
            name=properties["UsagePlanName"],
            apiStages=[
                {
                    "apiId": stage["ApiId"],
                    "stage": stage["Stage"],
                    "throttle": {method: _throttle(t) for method, t in stage.get("Throttle", {}).items()},
                }
                for stage in properties["ApiStages"]
            ],
            throttle=_throttle(properties["Throttle"]),
        )
        stack.usage_plan_ids[logical_id] = plan["id"]
    return stack


def queue_name(name: str, properties: dict[str, Any]) -> str:
    """The queue's name: a FIFO queue's ends in `.fifo`, as SQS requires (CloudFormation adds it to the name it
    makes)."""
    return f"{name}.fifo" if properties.get("FifoQueue") else name


def _throttle(settings: dict[str, Any]) -> Any:
    return {"rateLimit": float(settings["RateLimit"]), "burstLimit": int(settings["BurstLimit"])}


_loading = threading.Lock()


def named_stack(stage: str = "dev") -> LocalStack:
    """Names for every table, queue and secret the template declares, none of them created: for what only reads a
    function's environment (a handler module loading, which checks its settings)."""
    stack = LocalStack(stage=stage)
    for logical_id in resources_of_type("AWS::DynamoDB::Table"):
        stack.tables[logical_id] = f"nimriz-{stage}-{logical_id}"
    for logical_id, queue in resources_of_type("AWS::SQS::Queue").items():
        name = queue_name(f"nimriz-{stage}-{logical_id}", queue.get("Properties", {}))
        stack.queue_urls[logical_id] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"
        stack.queue_arns[logical_id] = f"arn:aws:sqs:us-east-1:123456789012:{name}"
    for logical_id in resources_of_type("AWS::SecretsManager::Secret"):
        stack.secret_arns[logical_id] = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{logical_id}-AbCdEf"
    return stack


def function_of(code_folder: Path) -> str | None:
    """The logical id of the function whose code is in `code_folder`, if any."""
    for logical_id, function in functions().items():
        if (ROOT / function["Properties"]["CodeUri"]).resolve() == code_folder.resolve():
            return logical_id
    return None


def load_handler(logical_id: str, environment: int = 0) -> Handler:
    """Import a function's handler from its CodeUri, under a module name unique to the function and execution
    environment (each environment has its own module state, as separate Lambda environments do)."""
    properties = functions()[logical_id]["Properties"]
    module_name, _, attribute = properties["Handler"].rpartition(".")
    path = ROOT / properties["CodeUri"] / f"{module_name.replace('.', '/')}.py"
    unique_name = f"nimriz_function_{logical_id}" + (f"_{environment}" if environment else "")
    # A module is in sys.modules before its code has run: without the lock, a concurrent first request would find
    # it there half-loaded, with no handler yet (the gateway answered 502).
    with _loading:
        module = sys.modules.get(unique_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(unique_name, path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[unique_name]  # as a failed import leaves nothing behind: the next request retries
                raise
    handler: Handler = getattr(module, attribute)
    return handler
