"""Validate-mode test-sends (README, "Validating before going live"): a test-send's sample event through the action's
filter and mapping, and its request through the provider's validation channel where it has one (GA4's validation
server; Meta's and TikTok's Test Events tools with a `test_event_code`), at once, within the API function's time.

Nothing is queued, recorded or counted: no delivery record, log entry, counter or metric (those are the dispatcher's,
and this never reaches it). The request goes through the dispatcher's own pieces: the provider's `build_requests`
and `classify`, the HTTP sender (SSRF guard, deadline, bounded reads; the API builds its own with a shorter deadline)
and the group sender's authorization and classification. It is shown as a preview shows requests, but it is the
request sent: every secret, and every value computed from one, redacted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..delivery.group_sender import GroupSender, classified_outcomes
from ..delivery.prepare import MappedEventTooLarge, previewed_requests, shown_request
from ..delivery.sender import HttpSender, SendFailed
from ..errors import Problem, ValidationFailed
from ..models.previews import ValidationStatus
from ..netguard import UnsafeDestination
from ..providers import get_provider
from ..providers.base import (
    AuthorizationFailed,
    DeliveryItem,
    Outcome,
    Provider,
    ValidationMessage,
    Verdict,
)
from ..providers.responses import INVALID_RESPONSE
from ..redaction import redacted_excerpt
from ..storage.records import Workspace
from .destinations import DestinationService
from .preview import filter_verdict, mapped_item

# The validation request's whole deadline (resolving, connecting, sending, reading; design §8.2's sender): the API
# function has 10 s (template.yaml, Globals), and reading the destination and its secret before it and answering after
# it take well under the other half.
REQUEST_DEADLINE_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 4.0
# What one message may show of what a provider said (GA4's descriptions are a sentence; Meta's a paragraph).
MAX_MESSAGE_CHARS = 1000


@dataclass(frozen=True, slots=True)
class ProviderVerdict:
    status: ValidationStatus
    channel: str | None = None  # what the request went to instead of production ingestion
    messages: list[ValidationMessage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Validation:
    action_id: str
    event_type: str
    matched: bool  # the action's filter let the sample event through
    rejected_by: str | None
    request: dict[str, Any] | None  # as sent (or as it would be, with no channel), redacted; None when none was built
    provider: ProviderVerdict


class ValidationService:
    def __init__(
        self, destinations: DestinationService, sender: HttpSender, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._destinations = destinations
        self._sender = sender
        self._group_sender = GroupSender(sender, clock=clock)
        self._clock = clock

    def validate(
        self, workspace: Workspace, destination_id: str, action_id: str | None, *, test_event_code: str | None
    ) -> Validation:
        sample = self._destinations.sample_send(workspace, destination_id, action_id)
        provider = get_provider(sample.record.type)
        if test_event_code is not None and "test_event_code" not in provider.credentials_model.model_fields:
            problem = Problem("test_event_code", f"{provider.destination_type} destinations take no test_event_code")
            raise ValidationFailed("Invalid test-send.", [problem])
        event_type = str(sample.event["type"])
        filtered = filter_verdict(sample.action.event_filter, sample.event)

        def answer(request: dict[str, Any] | None, said: ProviderVerdict) -> Validation:
            return Validation(sample.action.id, event_type, filtered.passed, filtered.rejected_by, request, said)

        if not filtered.passed:
            rejected = ValidationMessage(
                f"The action's filter rejects the sample {event_type} event ({filtered.rejected_by}): nothing was sent."
            )
            return answer(None, ProviderVerdict("not_sent", messages=[rejected]))
        credentials = self._destinations.credentials_of(sample.record)
        if test_event_code is not None:
            credentials = {**credentials, "test_event_code": test_event_code}
        try:
            item = mapped_item(
                provider, sample.action.property_mapping, sample.event, delivery_id="validation", reason="test"
            )
        except MappedEventTooLarge as exc:
            refusal = ValidationMessage(str(exc), code=exc.outcome.error_class)
            return answer(None, ProviderVerdict("invalid", messages=[refusal]))
        channel = provider.validation_channel(credentials)
        if channel is None:
            return answer(*self._without_channel(provider, credentials, item))
        return answer(*self._through(provider, credentials, item, channel))

    def _without_channel(
        self, provider: Provider, credentials: Mapping[str, Any], item: DeliveryItem
    ) -> tuple[dict[str, Any] | None, ProviderVerdict]:
        """Nothing is sent: the request as a preview shows it, and why there is no channel."""
        shown, note = previewed_requests(provider, credentials, item, now=self._clock())
        messages = [ValidationMessage(f"{provider.destination_type} {provider.no_validation_channel}")]
        if note:
            messages.append(ValidationMessage(note))
        return (shown[0] if shown else None), ProviderVerdict("not_available", messages=messages)

    def _through(
        self, provider: Provider, credentials: Mapping[str, Any], item: DeliveryItem, channel: str
    ) -> tuple[dict[str, Any] | None, ProviderVerdict]:
        """The item's request sent to the validation channel, and what its answer says."""
        secrets = tuple(provider.secret_values(credentials))
        try:
            authorized = self._group_sender.authorize(provider, credentials)
        except AuthorizationFailed as exc:
            return None, provider_verdict(exc.outcome, channel, secrets)
        built = provider.build_requests([item], authorized, now=self._clock())
        if skipped := built.skipped.get(0):
            refusal = Outcome.permanent(
                skipped.error_class or "not_sent", f"Nimriz would not send it: {skipped.message}"
            )
            return None, provider_verdict(refusal, channel, secrets)
        request = built.requests[0]
        secrets = (*secrets, *request.secrets)
        shown = shown_request(request, secrets, with_content=True)
        try:
            response = self._sender.send(provider.destination_type, request)
        except SendFailed as exc:
            return shown, provider_verdict(exc.outcome, channel, secrets)
        except UnsafeDestination as exc:
            return shown, provider_verdict(
                Outcome.permanent("unsafe_destination", f"refused by the SSRF guard: {exc}"), channel, secrets
            )
        outcome = classified_outcomes(provider, request, response)[request.items[0]]
        return shown, provider_verdict(outcome, channel, secrets, provider.validation_messages(request, response))


def provider_verdict(
    outcome: Outcome,
    channel: str,
    secrets: Sequence[str],
    listed: list[ValidationMessage] | None = None,
) -> ProviderVerdict:
    """The verdict an outcome of the channel's answer gives: delivered is valid; a refusal invalid; no verdict (a
    retry: timeout, server error, throttle; an answer that could not be read) an error. Its messages: what the answer
    lists, else the outcome's message; every secret of the request redacted."""
    if outcome.verdict is Verdict.DELIVERED:
        status: ValidationStatus = "valid"
    elif outcome.verdict is Verdict.RETRY or outcome.error_class == INVALID_RESPONSE:
        status = "error"
    else:
        status = "invalid"
    if listed is None or status == "error":
        text = outcome.message or outcome.error_class
        listed = [ValidationMessage(text, code=outcome.error_class)] if text else []
    return ProviderVerdict(status, channel, [_redacted(message, secrets) for message in listed])


def _redacted(message: ValidationMessage, secrets: Sequence[str]) -> ValidationMessage:
    def shown(text: str | None) -> str | None:
        return redacted_excerpt(text, secrets, MAX_MESSAGE_CHARS) if text else text

    return ValidationMessage(
        shown(message.description) or "", field_path=shown(message.field_path), code=shown(message.code)
    )
