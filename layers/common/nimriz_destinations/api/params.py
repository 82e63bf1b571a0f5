"""Path and query parameters shared by the routes that take them: a workspace route and the admin route that
answers the same for support (its "twin") take the same, so both validate and document them alike."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from ..ids import PLATFORM_ID_PATTERN
from ..models.deliveries import DeliveryStatus

# A workspace named in an admin route's path: a platform id (ids.PLATFORM_ID_PATTERN), else 422.
WorkspaceId = Annotated[str, Path(pattern=PLATFORM_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=100)]
# PUT and PATCH of a destination: the version the change was made against.
IfMatch = Annotated[
    str | None, Header(alias="if-match", description="ETag from a previous read; a stale one gives 412.")
]
Cursor = Annotated[str | None, Query(max_length=2048)]
ActionIdFilter = Annotated[str | None, Query(max_length=64, description="Only this action's deliveries.")]
StatusFilter = Annotated[DeliveryStatus | None, Query(description="Only deliveries in this status.")]
EventIdFilter = Annotated[
    str | None, Query(min_length=1, max_length=1024, description="Only deliveries of this event (its `id`).")
]
EventTypeFilter = Annotated[str | None, Query(max_length=64, description="Only deliveries of events of this type.")]
SinceFilter = Annotated[
    str | None,
    Query(
        max_length=64,
        description="RFC 3339; only deliveries whose time (what the log sorts by: a live delivery's event "
        "`occurred_at`, a replay's or test's queueing time) is at or after it.",
    ),
]
UntilFilter = Annotated[
    str | None, Query(max_length=64, description="RFC 3339; only deliveries whose time is before it.")
]
