"""Test helpers for every provider adapter: canonical events, items mapped as the dispatcher maps them, canned
answers, sends through the real `HttpSender` the way the dispatcher sends, and the records the answers make."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nimriz_destinations.delivery.group_sender import GroupSender
from nimriz_destinations.delivery.outcomes import settle
from nimriz_destinations.delivery.prepare import delivery_item
from nimriz_destinations.delivery.retry import RetryPolicy
from nimriz_destinations.delivery.send_result import SendResult
from nimriz_destinations.delivery.sender import HttpSender
from nimriz_destinations.jobs import DeliveryJob
from nimriz_destinations.mapping import PropertyMapping, compile_mapping
from nimriz_destinations.providers.base import DeliveryItem, Outcome, Provider, ProviderResponse
from nimriz_destinations.sample_events import sample_event
from nimriz_destinations.storage.delivery_items import DeliveryState
from nimriz_destinations.storage.delivery_states import DeliveryWrite

EVENT_TYPES = (
    "link.clicked",
    "link.qr_scanned",
    "card.viewed",
    "card.link_clicked",
    "conversion.lead",
    "conversion.sale",
    "conversion.refund",
    "conversion.cancellation",
    "conversion.reversal",
)


def make_event(
    event_type: str = "link.clicked",
    *,
    privacy_mode: str = "standard",
    event_id: str = "0f8fad5b-d9cb-469f-a165-70867728950e",
    visitor: str | None = None,
    age_seconds: float = 0,
) -> dict[str, Any]:
    """A sample canonical event; `visitor` replaces the visitor identity, `age_seconds` backdates it."""
    event = sample_event(
        event_type,
        workspace_id="ws_1",
        organization_id="org_1",
        privacy_mode=privacy_mode,
        event_id=event_id,
        now=datetime.now(UTC) - timedelta(seconds=age_seconds),
    )
    if visitor is not None:
        event["visitor"] = {"click_id": f"ck_{visitor}"}
        if privacy_mode == "standard":
            event["visitor"]["visitor_hash"] = f"vh_{visitor}"
    return event


def conversion_event(
    event_type: str, *, now: datetime, click_ids: Mapping[str, str] | None, **conversion: Any
) -> dict[str, Any]:
    """A sample event `evt_1` at `now`; `click_ids` replaces the sample's (None keeps them); conversion fields set
    to None are removed, others override the sample's."""
    event = sample_event(event_type, workspace_id="ws_1", organization_id="org_1", event_id="evt_1", now=now)
    if click_ids is not None:
        event["click_ids"] = dict(click_ids)
    if "conversion" in event:
        merged = {**event["conversion"], **conversion}
        event["conversion"] = {key: value for key, value in merged.items() if value is not None}
    return event


def make_item(
    provider: Provider,
    event: Mapping[str, Any] | None = None,
    *,
    overrides: Sequence[Mapping[str, Any]] = (),
    base: str = "default",
    reason: str = "live",
    attempt: int = 1,
) -> DeliveryItem:
    """A delivery item as the dispatcher makes it: privacy rules, then the (default or overridden) mapping."""
    event = make_event() if event is None else event
    mapping = compile_mapping(PropertyMapping.model_validate({"base": base, "overrides": list(overrides)}))
    return delivery_item(provider, mapping, event, delivery_id="dlv_1", reason=reason, attempt=attempt)


def mapped(provider: Provider, event: Mapping[str, Any], overrides: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    return make_item(provider, event, overrides=overrides).payload


def response(status: int, body: Any = b"", headers: Mapping[str, str] | None = None) -> ProviderResponse:
    """A provider answer: bytes/str as is, anything else as JSON."""
    raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    return ProviderResponse(status, {name.lower(): value for name, value in (headers or {}).items()}, raw)


def deliver(
    sender: HttpSender,
    provider: Provider,
    items: Sequence[DeliveryItem],
    credentials: Mapping[str, Any],
    *,
    now: float | None = None,
) -> dict[int, Outcome]:
    """What the dispatcher does for one group of items (`GroupSender`: authorize, build, send, classify, refresh
    once after a 401, resend batch-mates refused for another item); outcomes by position."""
    return {position: result.outcome for position, result in send(sender, provider, items, credentials, now).items()}


def send(
    sender: HttpSender,
    provider: Provider,
    items: Sequence[DeliveryItem],
    credentials: Mapping[str, Any],
    now: float | None = None,
) -> dict[int, SendResult]:
    """As `deliver`, each position's whole result (what its record is made of)."""
    clock = time.time if now is None else (lambda: now)
    return GroupSender(sender, clock=clock).send(provider, credentials, items)


def records(answer: Callable[[], SendResult], count: int, *, now: float) -> list[DeliveryWrite]:
    """The records the dispatcher writes (`outcomes.settle`, the default retry policy) for `count` results of
    `answer()` in turn, one live delivery's attempts, each over the state the previous record left."""
    job = DeliveryJob(
        delivery_id="dlv_1",
        workspace_id="ws_1",
        organization_id="org_1",
        destination_id="dst_1",
        action_id="act_1",
        reason="live",
        event=make_event(),
        queued_at="2026-11-28T12:00:00.000Z",
    )
    state, written = DeliveryState(), []
    for _ in range(count):
        write = settle(job, state, answer(), RetryPolicy(), now=now).write
        written.append(write)
        summary = write.summary
        state = DeliveryState(
            rev=state.rev + 1,
            status=summary.status,
            attempts=summary.attempts,
            unsent=write.unsent,
            next_attempt_at=write.next_attempt_at,
            throttled=write.throttled,
        )
    return written
