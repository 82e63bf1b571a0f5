"""API Gateway REQUEST authorizer: resolves a workspace API key to its workspace, or answers 401."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.auth import allow_policy, authenticate
from nimriz_destinations.observability import logger
from nimriz_destinations.runtime import api_key_store


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    workspace = authenticate(event.get("headers"), api_key_store())
    if workspace is None:
        # This exact message makes API Gateway answer 401 (the UNAUTHORIZED gateway response).
        raise Exception("Unauthorized")
    return allow_policy(event["methodArn"], workspace)
