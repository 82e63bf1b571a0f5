"""GET /api/integrations/audit-log"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_app, current_workspace, json_response
from nimriz_destinations.api.presenters.workspaces import present_audit_entry
from nimriz_destinations.api.responses.workspaces import LIST_AUDIT_LOG_RESPONSES
from nimriz_destinations.models.workspaces import AuditLogResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import audit_log

app = create_app("destinations:read", audit_log)


@app.get(
    "/api/integrations/audit-log",
    summary="List the workspace's configuration changes (who, when, a redacted diff), newest first",
    responses=LIST_AUDIT_LOG_RESPONSES,
)
def list_audit_log(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[AuditLogResponse]:
    entries, next_cursor = audit_log().list_page(current_workspace(app).workspace_id, limit=limit, cursor=cursor)
    items = [present_audit_entry(entry) for entry in entries]
    return json_response(200, AuditLogResponse(audit_log=items, next_cursor=next_cursor))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
