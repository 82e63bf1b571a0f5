"""What sending one action's jobs needs (its destination's cached configuration, credentials and compiled mapping), or
why none of them is sent: the dispatcher plans each action of a batch once, then sends its jobs in chunks of the
provider's batch size through the lanes (`lanes.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mapping import CompiledMapping
from ..providers import get_provider
from ..providers.base import Outcome, Provider
from ..storage.records import ActionRecord, DestinationRecord
from ..storage.secrets import SecretRef, SecretStore
from .config import CompiledActions, DestinationConfigs
from .outcomes import DELETED


@dataclass(frozen=True, slots=True)
class Plan:
    provider: Provider
    destination: DestinationRecord
    credentials: dict[str, Any]
    mapping: CompiledMapping

    @property
    def destination_type(self) -> str:
        return self.destination.type


class Planner:
    def __init__(self, configs: DestinationConfigs, compiled: CompiledActions, secrets: SecretStore) -> None:
        self._configs = configs
        self._compiled = compiled
        self._secrets = secrets

    def plan(
        self, workspace_id: str, destination_id: str, action_id: str, *, version: int, testing: bool
    ) -> Plan | Outcome:
        """The plan for an action's jobs, or the outcome they all get unsent (`testing`: they are all test sends,
        which may target a disabled action: users test first). Raises when the configuration cannot be loaded."""
        destination = self._configs.destination(workspace_id, destination_id, at_least_version=version)
        action = destination.action(action_id) if destination else None
        refusal = _refusal(destination, action, testing=testing)
        if refusal is not None:
            return refusal
        assert destination is not None and action is not None
        credentials: dict[str, Any] = {}
        if destination.secret_arn and destination.secret_version:
            credentials = self._secrets.read(SecretRef(destination.secret_arn, destination.secret_version))
        mapping = self._compiled.mapping(destination, action)
        return Plan(get_provider(destination.type), destination, credentials, mapping)

    def destination_type(self, workspace_id: str, destination_id: str) -> str | None:
        """The destination's type, usually cached; None when it no longer exists."""
        destination = self._configs.destination(workspace_id, destination_id)
        return destination.type if destination is not None else None

    def forget(self, workspace_id: str, destination_id: str) -> None:
        """A deleted destination's cached configuration, credentials and provider authorization go now."""
        cached = self._configs.forget(workspace_id, destination_id)
        if cached is not None and cached.secret_arn and cached.secret_version:
            credentials = self._secrets.forget(SecretRef(cached.secret_arn, cached.secret_version))
            if credentials is not None:
                get_provider(cached.type).forget_authorization(credentials)


def _refusal(destination: DestinationRecord | None, action: ActionRecord | None, *, testing: bool) -> Outcome | None:
    """Why a group of jobs is not sent at all."""
    if destination is None:
        return DELETED
    if action is None:
        return Outcome.skipped("action_deleted", "The action no longer exists on this destination.")
    if not get_provider(destination.type).delivers:
        return Outcome.skipped("nothing_to_deliver", "This action type delivers nothing server-side.")
    if not testing and not destination.enabled:
        return Outcome.skipped("destination_disabled", "The destination is disabled.")
    if not testing and not action.enabled:
        return Outcome.skipped("action_disabled", "The action is disabled.")
    return None
