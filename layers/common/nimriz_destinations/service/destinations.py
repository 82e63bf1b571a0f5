"""Destination use cases: create, list, get, update, delete, test-send (queued), signing-secret rotation.

Knows nothing of HTTP or Lambda: takes validated request models and returns records.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..audit import Actor, changed_secret_paths, destination_snapshot, destination_target, diff
from ..clock import iso_from_unix, utc_now
from ..errors import (
    ActionNotFound,
    ConcurrentModification,
    DestinationNotFound,
    NoEnabledAction,
    NothingToDeliver,
    PreconditionFailed,
    Problem,
    SigningSecretNotSupported,
    ValidationFailed,
)
from ..event_fields import CONVERSION_EVENT_TYPES
from ..filters import EventFilter
from ..filters.cost import FILTER_BUDGET_NS, WORKSPACE_BUDGET_NS, filter_cost, milliseconds
from ..filters.regex_safety import MATCH_INPUT_LIMIT
from ..ids import new_delivery_id
from ..interstitial.settings import normalised_settings, settings_problems
from ..jobs import DeliveryJob
from ..merge_patch import merge_patch
from ..models.destinations import ActionInput, DestinationCreate, DestinationUpdate
from ..netguard import UnsafeDestination, check_url
from ..providers import get_provider
from ..providers.base import Provider, RandomBytes, fresh_random_bytes
from ..quotas import Usage, check_change, usage_of, usage_of_all
from ..sample_events import sample_event
from ..settings import Settings
from ..storage.destinations import DestinationStore
from ..storage.quotas import QuotaStore, UsageChanged
from ..storage.records import ActionRecord, DestinationRecord, UnhealthyState, Workspace
from ..storage.secrets import MAX_SECRET_BYTES, SecretRef, SecretStore, secret_size
from ..validation import problems_from_errors
from .audit import AuditLog

_MAX_WRITE_ATTEMPTS = 3


@dataclass(slots=True)
class SavedDestination:
    record: DestinationRecord
    # Generated secrets (a webhook signing secret) shown once, in the create/update response only.
    revealed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RotatedSigningSecret:
    signing_secret: str  # shown once, in the rotation's response only
    previous_secret_expires_at: str | None  # until when the replaced secret signs too; None: it stopped at once


@dataclass(frozen=True, slots=True)
class SampleSend:
    """A test-send's destination, action and sample event."""

    record: DestinationRecord
    action: ActionRecord
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QueuedTest:
    delivery_id: str
    destination_id: str
    action_id: str
    event_id: str
    event_type: str
    queued_at: str


class DestinationService:
    def __init__(
        self,
        settings: Settings,
        store: DestinationStore,
        secrets: SecretStore,
        send_delivery_job: Callable[[DeliveryJob], None],
        audit: AuditLog,
        quotas: QuotaStore,
        derive: Callable[[bytes, str], bytes],
    ) -> None:
        self._settings = settings
        self._derive = derive  # an idempotent request's bytes from its nonce (service/idempotency.py)
        self._store = store
        self._quotas = quotas
        self._secrets = secrets
        self._send_job = send_delivery_job
        self._audit = audit

    # -- queries -----------------------------------------------------------------------------

    def get(self, workspace_id: str, destination_id: str) -> DestinationRecord:
        record = self._store.get(workspace_id, destination_id)
        if record is None:
            raise DestinationNotFound()
        return record

    def list_by_health(
        self, state: UnhealthyState, *, limit: int, cursor: str | None
    ) -> tuple[list[DestinationRecord], str | None]:
        """Failing or disabled destinations of every workspace (the admin API's support view)."""
        return self._store.list_by_health(state, limit=limit, cursor=cursor)

    def list_page(
        self, workspace: Workspace, *, limit: int, cursor: str | None
    ) -> tuple[list[DestinationRecord], str | None]:
        return self._store.list_page(workspace.workspace_id, limit=limit, cursor=cursor)

    # -- commands ----------------------------------------------------------------------------

    def validate_new(
        self, request: DestinationCreate, *, workspace: Workspace | None = None
    ) -> tuple[Provider, dict[str, Any] | None]:
        """Everything create checks before writing: the provider and the validated credentials. Without the
        workspace (an unsaved preview, which reads nothing) the evaluation budget is checked per filter only."""
        provider = get_provider(request.type)
        credentials = self._validated_credentials(provider, request.credentials, required=True)
        problems = self._action_problems(provider, request.actions, existing=None)
        workspace_id = None if workspace is None else workspace.workspace_id
        problems += self._evaluation_budget_problems(request.actions, workspace_id=workspace_id)
        _raise_if_problems(problems)
        return provider, credentials

    def credentials_of(self, record: DestinationRecord) -> dict[str, Any]:
        if not record.secret_arn or not record.secret_version:
            return {}
        return self._secrets.read(SecretRef(record.secret_arn, record.secret_version))

    def create(
        self, workspace: Workspace, request: DestinationCreate, *, actor: Actor, nonce: bytes | None = None
    ) -> SavedDestination:
        """A new destination. Given an idempotent request's `nonce` (design §9.7), its ids and generated secrets are
        derived from it, and a destination it made already (a retry taking over a create whose answer was never
        recorded) is answered as it now is, nothing written."""
        random_bytes = self._random_bytes(nonce)
        destination_id = _uuid4(random_bytes("destination.id"))
        if nonce is not None:
            made = self._store.get(workspace.workspace_id, destination_id)
            if made is not None:
                return SavedDestination(record=made, revealed=self.generated_secrets(request, nonce))
        provider, credentials = self.validate_new(request, workspace=workspace)
        revealed = self.generated_secrets(request, nonce)
        now = utc_now()
        stored = None
        if credentials is not None and provider.credentials_model.model_fields:
            stored = {**credentials, **revealed}
        record = DestinationRecord(
            id=destination_id,
            workspace_id=workspace.workspace_id,
            organization_id=workspace.organization_id,
            name=request.name,
            type=request.type,
            enabled=request.enabled,
            delivery_rate=None if request.delivery_rate is None else request.delivery_rate.per_second,
            actions=[
                _new_action(action, now, _uuid4(random_bytes(f"destination.actions.{index}.id")))
                for index, action in enumerate(request.actions)
            ],
            credential_hints=provider.credential_hints(stored or {}),
            secret_arn=None,
            secret_version=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        self._ensure_storable(record, stored)
        added = usage_of(record)
        usage_change = self._checked_usage_change(workspace.workspace_id, added)
        changes = diff(None, destination_snapshot(record))
        with self._audit.recorded(
            workspace.workspace_id, actor, "destination.created", destination_target(record), changes
        ):
            secret = None
            if stored is not None:
                secret = self._secrets.create(
                    self._settings.secret_name(workspace.workspace_id, destination_id),
                    stored,
                    tags={"workspace_id": workspace.workspace_id, "destination_id": destination_id},
                    # A retry taking over a create that died after making the secret makes it again, where it is.
                    overwrite=nonce is not None,
                )
                record.secret_arn, record.secret_version = secret.arn, secret.version_id
            try:
                self._with_usage(
                    workspace.workspace_id,
                    added,
                    usage_change,
                    lambda checked: self._store.create(record, usage_change=checked),
                )
            except Exception:
                if secret:
                    self._secrets.delete(secret.arn)
                raise
        return SavedDestination(record=record, revealed=revealed)

    def generated_secrets(self, request: DestinationCreate, nonce: bytes | None) -> dict[str, Any]:
        """The credentials a create generates for what the customer left out (a webhook's signing secret), shown once:
        derived from `nonce` when given, so that a replay of the create shows them again."""
        return get_provider(request.type).generated_credentials(request.credentials or {}, self._random_bytes(nonce))

    def _random_bytes(self, nonce: bytes | None) -> RandomBytes:
        if nonce is None:
            return fresh_random_bytes
        return lambda purpose: self._derive(nonce, purpose)

    def update(
        self,
        workspace: Workspace,
        destination_id: str,
        request: DestinationUpdate,
        *,
        if_match: str | None,
        actor: Actor,
    ) -> SavedDestination:
        """PUT: the destination replaced by `request`."""
        return self._save_over(workspace, destination_id, lambda _: request, if_match=if_match, actor=actor)

    def patch(
        self, workspace: Workspace, destination_id: str, patch: dict[str, Any], *, if_match: str | None, actor: Actor
    ) -> SavedDestination:
        """PATCH: the JSON Merge Patch `patch` (RFC 7396) merged onto the stored destination, then saved as PUT saves
        the result. Credentials merge field by field onto the stored ones (read only when the patch names them)."""
        return self._save_over(
            workspace, destination_id, lambda current: self._patched(current, patch), if_match=if_match, actor=actor
        )

    def _save_over(
        self,
        workspace: Workspace,
        destination_id: str,
        request_for: Callable[[DestinationRecord], DestinationUpdate],
        *,
        if_match: str | None,
        actor: Actor,
    ) -> SavedDestination:
        """Save `request_for(current)` over the current destination, read again when another write came between."""
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            current = self.get(workspace.workspace_id, destination_id)
            if if_match is not None and if_match.strip() not in ("*", current.etag):
                raise PreconditionFailed("The destination changed since you read it (ETag mismatch).")
            try:
                return self._replace(current, request_for(current), actor)
            except ConcurrentModification:
                # With If-Match the client asked for exactly that version; without it, re-read and re-apply.
                if if_match is not None and if_match.strip() != "*":
                    raise PreconditionFailed("The destination changed since you read it (ETag mismatch).") from None
                if attempt == _MAX_WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def enable(self, workspace_id: str, destination_id: str, *, actor: Actor) -> DestinationRecord:
        """What a PUT with `enabled: true` does, and nothing else: a new version, enabled and healthy again with a
        closed circuit, audited as `destination.enabled`. Enabling changes no filter or usage, so it is never refused
        (design §6, §9.5). An enabled destination is answered as it is, with nothing written."""

        def enabled(current: DestinationRecord) -> DestinationRecord:
            if current.enabled:
                return current
            record = dataclasses.replace(current, enabled=True, version=current.version + 1, updated_at=utc_now())
            changes = diff(destination_snapshot(current), destination_snapshot(record))
            with self._audit.recorded(workspace_id, actor, "destination.enabled", destination_target(record), changes):
                return self._store.replace(record, expected_version=current.version, reset_health=True)

        return self._over_current(workspace_id, destination_id, enabled)

    def _over_current[T](self, workspace_id: str, destination_id: str, change: Callable[[DestinationRecord], T]) -> T:
        """`change(current)`, read again and repeated when another write came between (ConcurrentModification)."""
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            current = self.get(workspace_id, destination_id)
            try:
                return change(current)
            except ConcurrentModification:
                if attempt == _MAX_WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _patched(self, current: DestinationRecord, patch: dict[str, Any]) -> DestinationUpdate:
        """The PUT body `patch` makes of the current destination, validated as PUT validates its body."""
        document = merge_patch(_updatable_fields(current), {k: v for k, v in patch.items() if k != "credentials"})
        if "credentials" in patch:
            # Only what a PUT body may hold: what the provider keeps beside it (a rotation's previous signing secret)
            # is carried over by the save, as for a PUT. Removing them all (null) leaves none: the type's required
            # fields are then missing, as in a PUT.
            fields = get_provider(current.type).credentials_model.model_fields
            supplied = {name: value for name, value in self.credentials_of(current).items() if name in fields}
            document["credentials"] = merge_patch(supplied, patch["credentials"]) or {}
        try:
            return DestinationUpdate.model_validate(document)
        except ValidationError as exc:
            raise ValidationFailed(
                "The request has invalid fields.", problems_from_errors(exc.errors(include_url=False))
            ) from None

    def _replace(self, current: DestinationRecord, request: DestinationUpdate, actor: Actor) -> SavedDestination:
        provider = get_provider(current.type)
        problems = []
        if request.type is not None and request.type != current.type:
            problems.append(Problem("type", "the destination type cannot change; create a new destination"))
        problems += self._action_problems(provider, request.actions, existing=current)
        problems += self._evaluation_budget_problems(
            request.actions, workspace_id=current.workspace_id, replacing=current.id
        )
        credentials = None
        if request.credentials is not None:
            try:
                credentials = self._validated_credentials(provider, request.credentials, required=True)
            except ValidationFailed as exc:
                problems += exc.details
        _raise_if_problems(problems)

        now = utc_now()
        revealed: dict[str, Any] = {}
        hints = current.credential_hints
        changed_secrets: set[str] = set()
        if credentials is not None and provider.credentials_model.model_fields:
            previous = self.credentials_of(current)
            credentials = {**provider.kept_credentials(previous, credentials), **credentials}
            revealed = provider.generated_credentials(credentials)
            credentials.update(revealed)
            hints = provider.credential_hints(credentials)
            changed_secrets = changed_secret_paths(previous, credentials, provider.credentials_model.secret_fields())
        existing_actions = {action.id: action for action in current.actions}
        record = DestinationRecord(
            id=current.id,
            workspace_id=current.workspace_id,
            organization_id=current.organization_id,
            name=request.name,
            type=current.type,
            enabled=current.enabled if request.enabled is None else request.enabled,
            delivery_rate=None if request.delivery_rate is None else request.delivery_rate.per_second,
            actions=[_updated_action(action, existing_actions.get(action.id or ""), now) for action in request.actions],
            credential_hints=hints,
            secret_arn=current.secret_arn,
            secret_version=current.secret_version,
            version=current.version + 1,
            created_at=current.created_at,
            updated_at=now,
        )
        self._ensure_storable(record, credentials)
        added = usage_of(record).minus(usage_of(current))
        usage_change = None if added.is_zero else self._checked_usage_change(record.workspace_id, added)
        changes = diff(destination_snapshot(current), destination_snapshot(record), changed_secrets=changed_secrets)
        with self._audit.recorded(
            record.workspace_id, actor, _update_action(current, record), destination_target(record), changes
        ):
            if credentials is not None:
                secret = self._write_secret(current, credentials)
                record.secret_arn, record.secret_version = secret.arn, secret.version_id
            removed_actions = current.health.keys() - {action.id for action in record.actions}
            stored = self._with_usage(
                record.workspace_id,
                added,
                usage_change,
                lambda checked: self._store.replace(
                    record,
                    expected_version=current.version,
                    drop_health_of=removed_actions,
                    reset_health=record.enabled and not current.enabled,  # re-enabled: healthy again from now on
                    usage_change=checked,
                ),
            )
        return SavedDestination(record=stored, revealed=revealed)

    def rotate_signing_secret(
        self, workspace: Workspace, destination_id: str, *, overlap_seconds: int, actor: Actor
    ) -> RotatedSigningSecret:
        """A new signing secret for a webhook destination; the current one keeps signing beside it for
        `overlap_seconds` (design §8.8). A new version of the destination: every dispatcher batch reads the version
        before sending, so no request is signed with the secrets it replaced once this returns."""
        return self._over_current(
            workspace.workspace_id, destination_id, lambda current: self._rotate(current, overlap_seconds, actor)
        )

    def _rotate(self, current: DestinationRecord, overlap_seconds: int, actor: Actor) -> RotatedSigningSecret:
        provider = get_provider(current.type)
        expires_at = time.time() + overlap_seconds if overlap_seconds else None
        stored = self.credentials_of(current)
        rotated = provider.rotated_signing_secret(stored, previous_expires_at=expires_at)
        if rotated is None:
            raise SigningSecretNotSupported(current.type)
        record = dataclasses.replace(
            current,
            credential_hints=provider.credential_hints(rotated),
            version=current.version + 1,
            updated_at=utc_now(),
        )
        self._ensure_storable(record, rotated)
        changes = diff(
            destination_snapshot(current),
            destination_snapshot(record),
            changed_secrets=changed_secret_paths(stored, rotated, provider.credentials_model.secret_fields()),
        )
        target = destination_target(record)
        with self._audit.recorded(record.workspace_id, actor, "destination.signing_secret_rotated", target, changes):
            secret = self._write_secret(current, rotated)
            record.secret_arn, record.secret_version = secret.arn, secret.version_id
            try:
                self._store.replace(record, expected_version=current.version)
            except ConcurrentModification:
                # Refused because it landed already (its answer lost, botocore's retry refused), or a save came first.
                now_stored = self._store.get(record.workspace_id, record.id)
                if now_stored is None or now_stored.secret_version != secret.version_id:
                    raise
        return RotatedSigningSecret(
            signing_secret=rotated["signing_secret"],
            previous_secret_expires_at=None if expires_at is None else iso_from_unix(expires_at),
        )

    def _write_secret(self, current: DestinationRecord, credentials: dict[str, Any]) -> SecretRef:
        if current.secret_arn:
            return self._secrets.put(current.secret_arn, credentials)
        return self._secrets.create(
            self._settings.secret_name(current.workspace_id, current.id),
            credentials,
            tags={"workspace_id": current.workspace_id, "destination_id": current.id},
        )

    def _ensure_storable(self, record: DestinationRecord, credentials: dict[str, Any] | None) -> None:
        """Refuse what Secrets Manager or DynamoDB would refuse, before writing either."""
        if credentials is not None and (size := secret_size(credentials)) > MAX_SECRET_BYTES:
            reason = f"the credentials take {size} bytes stored; the limit is {MAX_SECRET_BYTES} bytes"
            raise ValidationFailed("The credentials are too large to store.", [Problem("credentials", reason)])
        self._store.ensure_fits(record)

    def delete(self, workspace: Workspace, destination_id: str, *, actor: Actor) -> None:
        workspace_id = workspace.workspace_id

        def deleted(current: DestinationRecord) -> DestinationRecord:
            removed = Usage().minus(usage_of(current))
            usage_change = self._checked_usage_change(workspace_id, removed)
            changes = diff(destination_snapshot(current), None)
            with self._audit.recorded(workspace_id, actor, "destination.deleted", destination_target(current), changes):
                self._with_usage(
                    workspace_id, removed, usage_change,
                    lambda checked: self._store.delete(current, usage_change=checked),
                )  # fmt: skip
            return current

        # Changed or deleted since it was read: read again (a deleted one answers 404; that delete is the one audited).
        current = self._over_current(workspace_id, destination_id, deleted)
        if current.secret_arn:
            self._secrets.delete(current.secret_arn)

    def sample_send(self, workspace: Workspace, destination_id: str, action_id: str | None) -> SampleSend:
        """What a test-send sends (queued or validated): the named action, else the first enabled one, and a sample
        event of the kind it sends."""
        record = self.get(workspace.workspace_id, destination_id)
        if action_id is not None:
            action = record.action(action_id)
            if action is None:
                raise ActionNotFound()
        else:
            action = next((a for a in record.actions if a.enabled), None)
            if action is None:
                raise NoEnabledAction("This destination has no enabled action; name one with action_id.")
        if action.action_type == "interstitial_settings":
            raise NothingToDeliver("Interstitial settings are served to the redirect edge; there is nothing to send.")
        event_type = "conversion.lead" if action.action_type == "send_conversion" else "link.clicked"
        event = sample_event(event_type, workspace_id=workspace.workspace_id, organization_id=workspace.organization_id)
        return SampleSend(record, action, event)

    def test_send(self, workspace: Workspace, destination_id: str, action_id: str | None) -> QueuedTest:
        sample = self.sample_send(workspace, destination_id, action_id)
        job = DeliveryJob(
            delivery_id=new_delivery_id(int(time.time() * 1000)),  # time-ordered: the log sorts and searches by it
            workspace_id=workspace.workspace_id,
            organization_id=workspace.organization_id,
            destination_id=sample.record.id,
            action_id=sample.action.id,
            reason="test",
            event=sample.event,
            queued_at=utc_now(),
        )
        self._send_job(job)
        return QueuedTest(
            delivery_id=job.delivery_id,
            destination_id=sample.record.id,
            action_id=sample.action.id,
            event_id=sample.event["id"],
            event_type=sample.event["type"],
            queued_at=job.queued_at,
        )

    # -- quotas ------------------------------------------------------------------------------

    def _checked_usage_change(self, workspace_id: str, added: Usage) -> dict[str, Any]:
        """The usage update for a write adding `added` (negative to free), after checking the quotas it increases
        (QuotaExceeded); counts the workspace's usage first when that was never done."""
        quota = self._quotas.read(workspace_id)
        usage = quota.usage
        if usage is None:
            usage = usage_of_all(self._store.list_all(workspace_id))
            if not self._quotas.start_counting(workspace_id, usage):  # a concurrent save counted it first
                usage = self._quotas.read(workspace_id).usage
                assert usage is not None
        check_change(quota.quotas, usage, added)
        return self._quotas.usage_change(workspace_id, added, quota.quotas)

    def _with_usage[T](
        self, workspace_id: str, added: Usage, usage_change: dict[str, Any] | None, write: Callable[[Any], T]
    ) -> T:
        """`write(usage_change)`; when a concurrent save changed the usage first, checked again and retried."""
        for attempt in range(_MAX_WRITE_ATTEMPTS):
            try:
                return write(usage_change)
            except UsageChanged:
                if attempt == _MAX_WRITE_ATTEMPTS - 1:
                    raise ConcurrentModification("The workspace was changed by other requests; retry.") from None
                usage_change = self._checked_usage_change(workspace_id, added)
        raise AssertionError("unreachable")

    # -- validation --------------------------------------------------------------------------

    def _validated_credentials(
        self, provider: Provider, credentials: dict[str, Any] | None, *, required: bool
    ) -> dict[str, Any] | None:
        model = provider.credentials_model
        if not model.model_fields:
            if credentials:
                raise ValidationFailed(
                    "Invalid credentials.",
                    [Problem("credentials", f"{provider.destination_type} destinations take no credentials")],
                )
            return None
        if credentials is None:
            if required:
                raise ValidationFailed("Invalid credentials.", [Problem("credentials", "field required")])
            return None
        try:
            parsed = model.model_validate(credentials)
        except ValidationError as exc:
            raise ValidationFailed(
                "Invalid credentials.", problems_from_errors(exc.errors(include_url=False), "credentials")
            ) from None
        problems = []
        for url_field in provider.url_fields:
            url = getattr(parsed, url_field)
            try:
                check_url(url, allow_loopback=self._settings.is_local)
            except UnsafeDestination as exc:
                problems.append(Problem(f"credentials.{url_field}", str(exc)))
        _raise_if_problems(problems)
        return parsed.model_dump(exclude_none=True)

    def _action_problems(
        self, provider: Provider, actions: list[ActionInput], *, existing: DestinationRecord | None
    ) -> list[Problem]:
        problems: list[Problem] = []
        seen_ids: set[str] = set()
        for index, action in enumerate(actions):
            where = f"actions[{index}]"
            if action.action_type not in provider.action_types:
                allowed = ", ".join(sorted(provider.action_types))
                problems.append(
                    Problem(f"{where}.action_type", f"{provider.destination_type} destinations support only: {allowed}")
                )
            if action.settings is not None and action.action_type != "interstitial_settings":
                problems.append(Problem(f"{where}.settings", "settings apply only to interstitial_settings actions"))
            if action.action_type == "interstitial_settings":
                problems += settings_problems(action.settings, f"{where}.settings")
            if (too_much := action.property_mapping.fixed_output_problem()) is not None:
                problems.append(Problem(f"{where}.property_mapping.overrides", too_much))
            for path, problem in provider.mapping_problems(action.property_mapping):
                problems.append(Problem(f"{where}.property_mapping.{path}", problem))
            if action.action_type == "send_conversion" and not action.event_filter.can_match_any(
                CONVERSION_EVENT_TYPES
            ):
                problems.append(Problem(f"{where}.event_filter", "this filter can never match a conversion event"))
            if action.id is not None:
                if existing is None:
                    problems.append(Problem(f"{where}.id", "ids are assigned by Nimriz; omit id when creating"))
                elif existing.action(action.id) is None:
                    problems.append(Problem(f"{where}.id", "no action with this id exists on this destination"))
                elif action.id in seen_ids:
                    problems.append(Problem(f"{where}.id", "this action id appears more than once"))
                seen_ids.add(action.id)
        return problems

    # -- workspace limits ------------------------------------------------------------------------------------

    def _evaluation_budget_problems(
        self, actions: Sequence[ActionInput], *, workspace_id: str | None, replacing: str | None = None
    ) -> list[Problem]:
        """Fan-out evaluates every filter of a workspace on each of its events (design §6): each action's filter
        within FILTER_BUDGET_NS and, given the workspace, all its filters, these actions in place of destination
        `replacing`'s, within WORKSPACE_BUDGET_NS. Disabled actions and destinations count: enabling one changes
        no filter, so it is never refused."""
        costs = [filter_cost(action.event_filter) for action in actions]
        problems = []
        for index, cost in enumerate(costs):
            where = cost.where_over(FILTER_BUDGET_NS)
            if where is not None:
                reason = (
                    f"this filter could take up to {milliseconds(cost.nanoseconds)} per event on "
                    f"{MATCH_INPUT_LIMIT:,}-character values and passes the filter evaluation budget of "
                    f"{milliseconds(FILTER_BUDGET_NS)} at this check: anchor regular expressions with ^, bound "
                    "their repeats ({0,50}), shorten `contains` values"
                )
                problems.append(Problem(f"actions[{index}].event_filter" + (f".{where}" if where else ""), reason))
        if problems or workspace_id is None:
            return problems
        others = sum(
            filter_cost(EventFilter.model_validate(action.event_filter)).nanoseconds
            for record in self._store.list_all(workspace_id)
            if record.id != replacing
            for action in record.actions
        )
        total = others
        for index, cost in enumerate(costs):
            if cost.where_over(WORKSPACE_BUDGET_NS, already_ns=total) is not None:
                whole = others + sum(cost.nanoseconds for cost in costs)
                reason = (
                    f"with this filter the workspace's filters could take up to {milliseconds(whole)} per event "
                    f"({milliseconds(others)} in its other destinations, disabled ones included), over the "
                    f"workspace evaluation budget of {milliseconds(WORKSPACE_BUDGET_NS)}: simplify or remove filters"
                )
                return [Problem(f"actions[{index}].event_filter", reason)]
            total += cost.nanoseconds
        return []


def _updatable_fields(record: DestinationRecord) -> dict[str, Any]:
    """What a PUT body holds of the stored destination but its credentials (secret: read only when a patch names
    them): the document a PATCH merges onto. A field PUT gains belongs here too."""
    return {
        "name": record.name,
        "enabled": record.enabled,
        **({} if record.delivery_rate is None else {"delivery_rate": {"per_second": record.delivery_rate}}),
        "actions": [{"id": action.id, **action.configuration()} for action in record.actions],
    }


def _update_action(current: DestinationRecord, updated: DestinationRecord) -> str:
    # Turning a destination on or off is its own audited action, whatever else the same request changed.
    if current.enabled != updated.enabled:
        return "destination.enabled" if updated.enabled else "destination.disabled"
    return "destination.updated"


def _raise_if_problems(problems: list[Problem]) -> None:
    if problems:
        raise ValidationFailed("The request has invalid fields.", problems)


def _uuid4(random: bytes) -> str:
    return str(uuid.UUID(bytes=random[:16], version=4))


def _new_action(action: ActionInput, now: str, action_id: str) -> ActionRecord:
    return ActionRecord(
        id=action_id,
        name=action.name,
        action_type=action.action_type,
        enabled=action.enabled,
        property_mapping=action.property_mapping.model_dump(mode="json"),
        event_filter=action.event_filter.model_dump(mode="json"),
        # Only interstitial_settings actions get this far with settings, and theirs passed settings_problems.
        settings=None if action.settings is None else normalised_settings(action.settings),
        created_at=now,
        updated_at=now,
    )


def _updated_action(action: ActionInput, existing: ActionRecord | None, now: str) -> ActionRecord:
    record = _new_action(action, now, str(uuid.uuid4()) if existing is None else existing.id)
    if existing is not None:
        record.created_at = existing.created_at
    return record
