"""Preview: what an action would do with an event — filter verdict (with the rule that rejected it), the
mapped payload, and the exact provider request(s), secrets redacted — for saved and unsaved destinations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..canonical_event import validate_canonical_event
from ..delivery.prepare import delivery_item, shown_request
from ..errors import Problem, ValidationFailed
from ..filters import EventFilter, compile_filter
from ..mapping import PropertyMapping, compile_mapping
from ..models import DestinationCreate
from ..providers import get_provider
from ..providers.base import Provider
from ..sample_events import sample_event
from ..storage.records import Workspace
from .destinations import DestinationService


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
    note: str | None = None  # why no request would be sent, when that is the case


@dataclass(frozen=True, slots=True)
class _Action:
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
        record = self._destinations.get(workspace, destination_id)
        actions = [
            _Action(a.id, a.name, a.action_type, a.enabled, a.event_filter, a.property_mapping)
            for a in record.actions
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
                None,
                a.name,
                a.action_type,
                a.enabled,
                a.event_filter.model_dump(mode="json"),
                a.property_mapping.model_dump(mode="json"),
            )
            for _, a in indexed
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
        for action in actions:
            verdict = compile_filter(EventFilter.model_validate(action.event_filter)).evaluate(event)
            preview = ActionPreview(
                action.id, action.name, action.action_type, action.enabled, verdict.passed, verdict.rejected_by
            )
            if verdict.passed and provider.delivers:
                self._fill_request(preview, provider, credentials, action, event)
            elif not provider.delivers:
                preview.note = "This action type delivers nothing server-side."
            previews.append(preview)
        return previews

    @staticmethod
    def _fill_request(
        preview: ActionPreview,
        provider: Provider,
        credentials: dict[str, Any],
        action: _Action,
        event: dict[str, Any],
    ) -> None:
        mapping = compile_mapping(PropertyMapping.model_validate(action.property_mapping))
        item = delivery_item(provider, mapping, event, delivery_id="preview", reason="live", attempt=1)
        preview.payload = item.payload
        authorization = provider.preview_authorization(credentials)
        preview.note = authorization.note
        built = provider.build_requests([item], authorization.credentials, now=time.time())
        listed = _secret_values(provider, credentials) + [s for r in built.requests for s in r.secrets]
        secrets = tuple(s for s in listed if s not in authorization.placeholders)
        preview.requests = [shown_request(request, secrets, with_content=True) for request in built.requests]
        if 0 in built.skipped:
            skipped = built.skipped[0]
            preview.note = f"Would not be sent ({skipped.error_class}): {skipped.message}"


def _secret_values(provider: Provider, credentials: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for name in provider.credentials_model.secret_fields():
        value = credentials.get(name)
        if isinstance(value, dict):
            values += [str(v) for v in value.values()]
        elif value:
            values.append(str(value))
    return values
