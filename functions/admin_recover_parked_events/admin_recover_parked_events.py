"""POST /admin/workspaces/{workspace_id}/parked-events/recover (admin API, AWS_IAM): support recovers a workspace's
parked events for it, audited in the workspace's audit log as the operator"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import create_admin_app, current_admin, json_response
from nimriz_destinations.api.params import WorkspaceId
from nimriz_destinations.api.presenters.deliveries import present_recovered
from nimriz_destinations.api.responses.deliveries import SUPPORT_RECOVER_PARKED_EVENTS_RESPONSES
from nimriz_destinations.models.deliveries import RecoverRequest, RecoverResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import live_events_queue, parked_event_service

app = create_admin_app(parked_event_service, live_events_queue)


@app.post(
    "/admin/workspaces/<workspace_id>/parked-events/recover",
    summary="Queue a workspace's parked events for fan-out again, for it (all, or a list of ids), audited as the "
    "operator",
    responses=SUPPORT_RECOVER_PARKED_EVENTS_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_recover_parked_events(
    workspace_id: WorkspaceId, body: Annotated[RecoverRequest | None, Body()] = None
) -> Response[RecoverResponse]:
    ids = body.ids if body else None
    recovered = parked_event_service().recover(workspace_id, ids, operator=current_admin(app))
    logger.info(
        "parked events recovered for a workspace", extra={"workspace_id": workspace_id, "count": len(recovered)}
    )
    return json_response(202, present_recovered(recovered))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
