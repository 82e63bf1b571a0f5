"""The steps every sender of a group of items shares — the dispatcher, preview and the provider tests: an item is the
event after the privacy rules plus its payload (a notice's data as it is, since its contract is fixed; any other
event through the action's mapping); a request is shown with its secrets redacted; a preview's requests are built
from placeholders, never signed or derived from a secret."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..mapping import CompiledMapping, apply_privacy
from ..notices import is_notice, notice_data
from ..providers.base import DeliveryItem, OutboundRequest, Provider
from ..redaction import REDACTED, redact_secrets


def delivery_item(
    provider: Provider,
    mapping: CompiledMapping,
    event: Mapping[str, Any],
    *,
    delivery_id: str,
    reason: str,
    attempt: int,
) -> DeliveryItem:
    private = apply_privacy(event)
    payload = (
        notice_data(private) if is_notice(private) else mapping.apply_to_private(private, provider.default_payload)
    )
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
