"""A server-side GTM container stand-in whose client claims GA4 Measurement Protocol hits at `<prefix>/mp/collect`.

Container behaviour depends on its clients (https://developers.google.com/tag-platform/tag-manager/server-side,
partly unverified); this sink models a container
with a Measurement Protocol client configured for one measurement id (and optionally an API secret):
* A request no client claims (other path or method, another measurement_id) → 400 "No client claimed the request."
* Wrong or missing api_secret when one is configured → 403.
* A body GA4's rules reject (`tests.sinks.ga4.validation_messages`) → 400 `{"validationMessages": [...]}`.
* Otherwise 200 with an empty body; the events land in `accepted` (each with its request's client_id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.sinks.ga4 import validation_messages
from tests.sinks.server import SinkRequest, SinkResponse

NOT_CLAIMED = SinkResponse(400, "No client claimed the request.")


@dataclass
class GTMContainerSink:
    measurement_id: str
    api_secret: str | None = None
    path_prefix: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method != "POST" or request.path != f"{self.path_prefix}/mp/collect":
            return NOT_CLAIMED
        if request.query.get("measurement_id") != [self.measurement_id]:
            return NOT_CLAIMED
        if self.api_secret is not None and request.query.get("api_secret") != [self.api_secret]:
            return SinkResponse(403, {"error": "invalid api_secret"})
        try:
            body = json.loads(request.body)
        except ValueError:
            return SinkResponse(400, {"error": "request body is not JSON"})
        messages = validation_messages(body)
        if messages:
            return SinkResponse(400, {"validationMessages": messages})
        self.accepted.extend({**event, "client_id": body["client_id"]} for event in body["events"])
        return SinkResponse(200, b"")


def gtm_container_sink(measurement_id: str, api_secret: str | None = None, path_prefix: str = "") -> GTMContainerSink:
    """A handler for `Sink(...)` emulating a tagging server that claims MP hits for `measurement_id`."""
    return GTMContainerSink(measurement_id, api_secret, path_prefix)
