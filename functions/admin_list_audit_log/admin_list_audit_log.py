"""GET /admin/workspaces/{workspace_id}/audit-log (admin API, AWS_IAM): support's view of the workspace route"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, json_response
from nimriz_destinations.api.params import Cursor, Limit, WorkspaceId
from nimriz_destinations.api.presenters.workspaces import present_audit_entry
from nimriz_destinations.api.responses.workspaces import SUPPORT_LIST_AUDIT_LOG_RESPONSES
from nimriz_destinations.models.workspaces import AuditLogResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import audit_log

app = create_admin_app(audit_log)


@app.get(
    "/admin/workspaces/<workspace_id>/audit-log",
    summary="A workspace's configuration changes, as its workspace sees them",
    responses=SUPPORT_LIST_AUDIT_LOG_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_list_audit_log(
    workspace_id: WorkspaceId, limit: Limit = 50, cursor: Cursor = None
) -> Response[AuditLogResponse]:
    entries, next_cursor = audit_log().list_page(workspace_id, limit=limit, cursor=cursor)
    items = [present_audit_entry(entry) for entry in entries]
    return json_response(200, AuditLogResponse(audit_log=items, next_cursor=next_cursor))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
