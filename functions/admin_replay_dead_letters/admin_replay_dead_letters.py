"""POST /admin/workspaces/{workspace_id}/destinations/{id}/dead-letters/replay (admin API, AWS_IAM): support
replays for the customer, audited in the workspace's audit log as the operator"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nimriz_destinations.api.app import ResourceId, create_admin_app, current_admin, json_response
from nimriz_destinations.api.params import WorkspaceId
from nimriz_destinations.api.presenters.deliveries import present_replayed
from nimriz_destinations.api.responses.deliveries import SUPPORT_REPLAY_RESPONSES
from nimriz_destinations.models.deliveries import ReplayRequest, ReplayResponse
from nimriz_destinations.observability import logger, trace_handler
from nimriz_destinations.runtime import deliveries_queue, delivery_service

app = create_admin_app(delivery_service, deliveries_queue)


@app.post(
    "/admin/workspaces/<workspace_id>/destinations/<destination_id>/dead-letters/replay",
    summary="Replay a workspace's dead letters for it (all, or a list of ids), audited as the operator",
    responses=SUPPORT_REPLAY_RESPONSES,
    security=[{"awsSigV4": []}],
)
def admin_replay_dead_letters(
    workspace_id: WorkspaceId, destination_id: ResourceId, body: Annotated[ReplayRequest | None, Body()] = None
) -> Response[ReplayResponse]:
    ids = body.ids if body else None
    replayed = delivery_service().replay(workspace_id, destination_id, ids, operator=current_admin(app))
    logger.info(
        "dead letters replayed for a workspace",
        extra={"workspace_id": workspace_id, "destination_id": destination_id, "count": len(replayed)},
    )
    return json_response(202, present_replayed(replayed))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@trace_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
