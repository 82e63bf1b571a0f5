"""The steps every sender of a group of items shares — the dispatcher, preview and the provider tests: an item is the
event after the privacy rules plus its payload (a notice's data as it is, since its contract is fixed; any other
event through the action's mapping), at most MAX_MAPPED_EVENT_BYTES of it; a request is shown with its secrets
redacted; a preview's requests are built from placeholders, never signed or derived from a secret."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..mapping import CompiledMapping, apply_privacy, json_size
from ..notices import is_notice, notice_data
from ..providers.base import DeliveryItem, OutboundRequest, Outcome, Provider
from ..redaction import REDACTED, redact_secrets

# One mapped event, as compact UTF-8 JSON: what no mapping may make of an event (design §7.4).
MAX_MAPPED_EVENT_BYTES = 64 * 1024


class MappedEventTooLarge(Exception):
    """The mapped payload is over MAX_MAPPED_EVENT_BYTES: it is not sent."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"The mapped event is {size} bytes of JSON, over the 64 KB limit ({MAX_MAPPED_EVENT_BYTES} bytes): "
            "it is not sent. Change the action's property_mapping (fewer or smaller copied fields)."
        )
        self.size = size

    @property
    def outcome(self) -> Outcome:
        """Final, and not an attempt: no request was made."""
        return Outcome.permanent("payload_too_large", str(self))


def delivery_item(
    provider: Provider,
    mapping: CompiledMapping,
    event: Mapping[str, Any],
    *,
    delivery_id: str,
    reason: str,
    attempt: int,
) -> DeliveryItem:
    """The item to send; MappedEventTooLarge when its payload is over MAX_MAPPED_EVENT_BYTES."""
    private = apply_privacy(event)
    payload = (
        notice_data(private) if is_notice(private) else mapping.apply_to_private(private, provider.default_payload)
    )
    size = json_size(payload)
    if size > MAX_MAPPED_EVENT_BYTES:
        raise MappedEventTooLarge(size)
    return DeliveryItem(delivery_id, private, payload, reason=reason, attempt=attempt)


def previewed_requests(
    provider: Provider, credentials: Mapping[str, Any], item: DeliveryItem, *, now: float
) -> tuple[list[dict[str, Any]], str | None]:
    """The requests `item` would be sent in, shown with their content (`shown_request`) and built without the network;
    and a note: why the item would not be sent, else what the request's placeholders stand for."""
    authorization = provider.preview_credentials(credentials)
    built = provider.build_requests([item], authorization.credentials, now=now)
    # The requests hold no secret, only `[redacted]` (however they encode it: a query string's %5Bredacted%5D) and
    # placeholders; but a mapping may have copied a secret into the payload.
    secrets = (*provider.secret_values(credentials), REDACTED)
    shown = [shown_request(request, secrets, with_content=True) for request in built.requests]
    if skipped := built.skipped.get(0):
        return shown, f"Would not be sent ({skipped.error_class}): {skipped.message}"
    return shown, authorization.note


def shown_request(request: OutboundRequest, secrets: Sequence[str], *, with_content: bool) -> dict[str, Any]:
    """The request as recorded (method and URL) or, `with_content`, as previewed (also headers and the body, parsed
    when it is JSON); every listed secret redacted."""
    shown: dict[str, Any] = {"method": request.method, "url": redact_secrets(request.url, secrets)}
    if with_content:
        text = redact_secrets(request.body.decode("utf-8", "replace"), secrets)
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        shown["headers"] = {name: redact_secrets(value, secrets) for name, value in request.headers.items()}
        shown["body"] = body
    return shown
