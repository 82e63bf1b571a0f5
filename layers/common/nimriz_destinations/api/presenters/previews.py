"""Previews and test-send validations -> response models."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from ...models.previews import (
    ActionPreviewOut,
    FilterVerdictOut,
    ProviderValidationOut,
    ValidationMessageOut,
    ValidationOut,
)

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ...service.preview import ActionPreview
    from ...service.validation import Validation


def present_preview(preview: ActionPreview) -> ActionPreviewOut:
    return ActionPreviewOut(
        action_id=preview.action_id,
        name=preview.name,
        action_type=preview.action_type,  # type: ignore[arg-type]
        enabled=preview.enabled,
        filter=FilterVerdictOut(passed=preview.passed, rejected_by=preview.rejected_by),
        payload=preview.payload,
        requests=preview.requests,
        note=preview.note,
    )


def present_validation(validation: Validation) -> ValidationOut:
    verdict = validation.provider
    return ValidationOut(
        action_id=validation.action_id,
        event_type=validation.event_type,
        filter="matched" if validation.matched else "filtered_out",
        rejected_by=validation.rejected_by,
        request=validation.request,
        provider=ProviderValidationOut(
            status=verdict.status,
            channel=verdict.channel,
            messages=[ValidationMessageOut(**asdict(message)) for message in verdict.messages],
        ),
    )
