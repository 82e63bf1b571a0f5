"""Preview: what an action would do with an event — filter verdict (with the rule that rejected it), the
mapped payload, and the exact provider request(s), secrets redacted and nothing signed or derived from them — for
saved and unsaved destinations.

A mapped event the dispatcher would not send (over 64 KB) answers 422 at its action's `property_mapping`. The
response stays within MAX_PREVIEW_RESPONSE_BYTES: once the actions' payloads and requests have used it, the others
are listed with their filter verdict and a note instead (design §7.4)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..canonical_event import validate_canonical_event
from ..delivery.prepare import MappedEventTooLarge, delivery_item, previewed_requests
from ..errors import Problem, ValidationFailed
from ..filters import EventFilter, FilterVerdict, compile_filter
from ..mapping import PropertyMapping, compile_mapping
from ..models.destinations import DestinationCreate
from ..providers import get_provider
from ..providers.base import DeliveryItem, Provider
from ..sample_events import sample_event
from ..storage.records import Workspace
from .destinations import DestinationService

# Measured as the API serialises the response (compact JSON, non-ASCII as \u escapes), the echoed event included.
# Lambda refuses responses over 6 MB; its own JSON around the body at most doubles it.
MAX_PREVIEW_RESPONSE_BYTES = 1024 * 1024
_NOT_SHOWN = (
    "Payload and requests not shown: this preview's response is limited to 1 MB and the event and earlier actions "
    "used it. Preview this action alone (action_id, or action_index for an unsaved destination) to see them."
)


@dataclass(slots=True)
class ActionPreview:
    action_id: str | None
    name: str
    action_type: str
    enabled: bool
    passed: bool
    rejected_by: str | None
    payload: dict[str, Any] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # why no request would be sent, or why the payload and requests are not shown


@dataclass(frozen=True, slots=True)
class _Action:
    index: int  # its position in the destination's actions, for error paths
    id: str | None
    name: str
    action_type: str
    enabled: bool
    event_filter: dict[str, Any]
    property_mapping: dict[str, Any]


class PreviewService:
    def __init__(self, destinations: DestinationService) -> None:
        self._destinations = destinations

    def saved(
        self, workspace: Workspace, destination_id: str, *, action_id: str | None, event: dict[str, Any] | None
    ) -> tuple[dict[str, Any], list[ActionPreview]]:
        record = self._destinations.get(workspace.workspace_id, destination_id)
        actions = [
            _Action(index, a.id, a.name, a.action_type, a.enabled, a.event_filter, a.property_mapping)
            for index, a in enumerate(record.actions)
            if action_id is None or a.id == action_id
        ]
        if action_id is not None and not actions:
            raise ValidationFailed("Unknown action.", [Problem("action_id", "no action with this id")])
        provider = get_provider(record.type)
        credentials = self._destinations.credentials_of(record)
        chosen = event or self._sample_for(workspace, actions)
        return chosen, self._preview(provider, credentials, actions, chosen)

    def unsaved(
        self,
        workspace: Workspace,
        destination: DestinationCreate,
        *,
        action_index: int | None,
        event: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], list[ActionPreview]]:
        provider, credentials = self._destinations.validate_new(destination)
        credentials = {**(credentials or {}), **provider.generated_credentials(credentials or {})}
        indexed = list(enumerate(destination.actions))
        if action_index is not None:
            if action_index >= len(indexed):
                raise ValidationFailed("Unknown action.", [Problem("action_index", "no action at this index")])
            indexed = [indexed[action_index]]
        actions = [
            _Action(
                index,
                None,
                a.name,
                a.action_type,
                a.enabled,
                a.event_filter.model_dump(mode="json"),
                a.property_mapping.model_dump(mode="json"),
            )
            for index, a in indexed
        ]
        chosen = event or self._sample_for(workspace, actions)
        return chosen, self._preview(provider, credentials, actions, chosen)

    @staticmethod
    def _sample_for(workspace: Workspace, actions: list[_Action]) -> dict[str, Any]:
        conversions = actions and all(a.action_type == "send_conversion" for a in actions)
        event_type = "conversion.sale" if conversions else "link.clicked"
        return sample_event(event_type, workspace_id=workspace.workspace_id, organization_id=workspace.organization_id)

    def _preview(
        self, provider: Provider, credentials: dict[str, Any], actions: list[_Action], event: dict[str, Any]
    ) -> list[ActionPreview]:
        problems = validate_canonical_event(event)
        if problems:
            raise ValidationFailed("The event is not a canonical event v1.", [Problem("event", p) for p in problems])
        previews = []
        too_large: list[Problem] = []
        budget = MAX_PREVIEW_RESPONSE_BYTES - _response_size(event)
        for action in actions:
            verdict = filter_verdict(action.event_filter, event)
            preview = ActionPreview(
                action.id, action.name, action.action_type, action.enabled, verdict.passed, verdict.rejected_by
            )
            if verdict.passed and provider.delivers:
                try:
                    self._fill_request(preview, provider, credentials, action, event)
                except MappedEventTooLarge as exc:
                    too_large.append(Problem(f"actions[{action.index}].property_mapping", str(exc)))
                budget -= _shown_within(preview, budget)
            elif not provider.delivers:
                preview.note = "This action type delivers nothing server-side."
            previews.append(preview)
        if too_large:
            raise ValidationFailed("A mapped event is over 64 KB: it would not be sent.", too_large)
        return previews

    @staticmethod
    def _fill_request(
        preview: ActionPreview,
        provider: Provider,
        credentials: dict[str, Any],
        action: _Action,
        event: dict[str, Any],
    ) -> None:
        item = mapped_item(provider, action.property_mapping, event, delivery_id="preview", reason="live")
        preview.payload = item.payload
        preview.requests, preview.note = previewed_requests(provider, credentials, item, now=time.time())


def filter_verdict(event_filter: dict[str, Any], event: dict[str, Any]) -> FilterVerdict:
    """What a stored or unsaved action's `event_filter` decides for `event`."""
    return compile_filter(EventFilter.model_validate(event_filter)).evaluate(event)


def mapped_item(
    provider: Provider, property_mapping: dict[str, Any], event: dict[str, Any], *, delivery_id: str, reason: str
) -> DeliveryItem:
    """`event` through an action's `property_mapping`, as the dispatcher maps it (MappedEventTooLarge over 64 KB)."""
    mapping = compile_mapping(PropertyMapping.model_validate(property_mapping))
    return delivery_item(provider, mapping, event, delivery_id=delivery_id, reason=reason, attempt=1)


def _response_size(value: Any) -> int:
    """Bytes `value` takes in the response: the API serialises it as compact JSON with non-ASCII escaped."""
    return len(json.dumps(value, separators=(",", ":")))


def _shown_within(preview: ActionPreview, budget: int) -> int:
    """What the preview's payload and requests add to the response; when that is over `budget`, they are left out
    (a note says so) and nothing is added."""
    size = _response_size([preview.payload, preview.requests])
    if size <= budget:
        return size
    preview.payload, preview.requests, preview.note = None, [], _NOT_SHOWN
    return 0
