"""API Gateway REQUEST authorizer: resolves a workspace API key to its workspace and scopes, or answers 401; names
the workspace's API Gateway key, whose usage plan throttles the request (design §9.6)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.auth import allow_policy, authenticate
from nimriz_destinations.observability import logger
from nimriz_destinations.runtime import api_key_store, usage_keys
from nimriz_destinations.settings import check_settings

check_settings(api_key_store, usage_keys)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = datetime.now(UTC)
    key = authenticate(event.get("headers"), api_key_store(), now)
    if key is None:
        # This exact message makes API Gateway answer 401 (the UNAUTHORIZED gateway response).
        raise Exception("Unauthorized")
    logger.append_keys(api_key_id=key.id)
    api_key_store().record_use(key, now)
    return allow_policy(event["methodArn"], key, usage_keys().value_for(key.workspace.workspace_id))
