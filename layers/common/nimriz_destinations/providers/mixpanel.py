"""Mixpanel Import API (https://docs.mixpanel.com/reference/import-events): every event goes to `/import?strict=1`.

Hosts by `region`: us → api.mixpanel.com, eu → api-eu.mixpanel.com, in → api-in.mixpanel.com.
Authentication (HTTP Basic, per the import reference's "Authentication" section):
* service account configured: `username:secret` plus `project_id` in the query;
* otherwise the project token as the Basic username with an empty password (`base64(project_token:)`), without
  `project_id`: the import reference accepts the token this way.
`/track` is not used: it silently drops events older than 5 days, and a replay or a delayed retry is often older;
`/import` takes any event after 1971-01-01 and, with `strict=1`, names every event it refuses. At most 2000 events
and 10 MB uncompressed per request. `ip=0` stops Mixpanel geolocating our server's address (what its server SDKs
send); the event's own location goes in `$city` / `$region` / `mp_country_code`.

Time: `properties.time` in milliseconds (the import reference accepts seconds or milliseconds). Identity:
`$device_id` is the visitor identity and `distinct_id` is `$device:<identity>`, the value Mixpanel itself derives
for anonymous events under Simplified ID Merge (an opaque id under Original ID Merge). Dedup: `$insert_id`
(≤ 36 characters of [A-Za-z0-9-]), the event id when it fits, else a UUIDv5 derived from it; a mapping's value that
does not fit is derived the same way, and a removed one is set back from the event id (strict mode requires it).

Responses: 200 delivered; 400 with `failed_records` (each `{index, insert_id, field, message}`, see
https://docs.mixpanel.com/troubleshooting/errors/400-bad-request) is a partial success: the listed events are
permanent and the others were imported (delivered, never resent); a 400 without them names no event, so a batch's
events are refused together: resent at once in halves until the refusal is one event's own (design §8.1). 401/403
and other 4xx permanent; 413 one event permanent / a batch refused together ("A 413 means the request body exceeded
Mixpanel's size limit. Split the batch and send it again.", https://docs.mixpanel.com/troubleshooting/errors/
413-payload-too-large); 408 and 5xx retried; 429 throttled for a minute (below).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlencode

from pydantic import StringConstraints, model_validator

from . import base
from .analytics import (
    EVENT_NAME_DOC,
    IDENTITY_DOC,
    MappingDoc,
    as_uuid,
    human_event_name,
    pack,
    property_doc,
    property_projection,
    screened,
    signed_revenue,
)
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, derived
from .common import anonymous_id, epoch_millis
from .responses import json_object, provider_message, status_outcome, too_large_outcomes, typed, typed_entries

HOSTS: Mapping[str, str] = {
    "us": "https://api.mixpanel.com",
    "eu": "https://api-eu.mixpanel.com",
    "in": "https://api-in.mixpanel.com",
}
MAX_EVENTS_PER_REQUEST = 2000
MAX_IMPORT_BYTES = 10_000_000
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
# Mixpanel's 429 (docs.mixpanel.com/troubleshooting/errors/429-rate-limit-exceeded) states no wait: "The API reference
# doesn't document a `Retry-After` header". The limit is "measured on a rolling one-minute basis" and its backoff
# tops out at "a maximum of 60 seconds": a minute later the window holding the refused request has passed.
RATE_LIMIT_WINDOW_SECONDS = 60.0

# Canonical properties under Mixpanel's reserved names (geolocation, browser, OS, referrer).
RENAMES: Mapping[str, str] = {
    "country": "mp_country_code",
    "region": "$region",
    "city": "$city",
    "browser_family": "$browser",
    "os_family": "$os",
    "referrer": "$referrer",
    "referrer_host": "$referring_domain",
}
_properties = property_projection(RENAMES)


class MixpanelCredentials(base.Credentials):
    project_token: base.SecretStr
    project_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] | None = None
    service_account_username: base.SecretStr | None = None
    service_account_secret: base.SecretStr | None = None
    region: Literal["us", "eu", "in"] = "us"

    @model_validator(mode="after")
    def _service_account_is_complete(self) -> Self:
        parts = (self.project_id, self.service_account_username, self.service_account_secret)
        if any(parts) and not all(parts):
            raise ValueError(
                "project_id, service_account_username and service_account_secret go together (all or none)"
            )
        return self


def import_request(credentials: Mapping[str, Any], body: bytes, positions: tuple[int, ...]) -> OutboundRequest:
    """`POST {host}/import?strict=1…` carrying `body`, authenticated by the service account or the project token."""
    host = HOSTS[credentials.get("region") or "us"]
    username, secret = credentials.get("service_account_username"), credentials.get("service_account_secret")
    query = {"strict": "1"}
    if username and secret and credentials.get("project_id"):
        query["project_id"] = str(credentials["project_id"])
        user, password = str(username), str(secret)
    else:
        user, password = str(credentials["project_token"]), ""
    query["ip"] = "0"
    basic = derived(credentials, lambda: base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    return OutboundRequest(
        method="POST",
        url=f"{host}/import?{urlencode(query)}",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {basic}"},
        body=body,
        items=positions,
        # The Basic value is the credentials in base64: redact it as well as the raw parts.
        secrets=(user, password, basic),
    )


def insert_id(value: str) -> str:
    """A Mixpanel `$insert_id` for an id: the id itself when it fits (≤ 36 of [A-Za-z0-9-]), else a derived UUID."""
    return value if _INSERT_ID.fullmatch(value) else as_uuid(value)


class Mixpanel(base.Provider):
    destination_type = "mixpanel"
    action_types = frozenset({"send_event"})
    credentials_model = MixpanelCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[MappingDoc] = (
        (
            "(request)",
            "POST {host}/import?strict=1&ip=0 with Basic auth: the service account (and &project_id=…) when set, else "
            "the project token as username; body: JSON array; hosts api / api-eu / api-in; any event age (never "
            "/track, which drops events older than 5 days)",
        ),
        ("event", EVENT_NAME_DOC),
        ("properties.$device_id", IDENTITY_DOC),
        ("properties.distinct_id", "`$device:` + the $device_id value (Mixpanel's anonymous distinct_id)"),
        ("properties.time", "`occurred_at` in milliseconds"),
        (
            "properties.$insert_id",
            "event `id` when it is ≤ 36 characters of [A-Za-z0-9-], else a UUIDv5 derived from it (dedup key)",
        ),
        *property_doc("properties.", RENAMES),
        ("properties.revenue", "sale: `conversion.value`; refund/cancellation/reversal: minus `conversion.value`"),
        ("(privacy)", "strict mode: no $region, no $city; never IP (ip=0) or user agent"),
        ("(not sent)", "conversion.email, conversion.phone: add them with an `include` override"),
        ("(refused)", "no event name or none of distinct_id/$device_id/$user_id after mapping: skipped"),
        ("(failed alone)", "an event Mixpanel lists in `failed_records`: permanent; the rest of its batch is imported"),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        identity = anonymous_id(event)
        properties: dict[str, Any] = {
            "distinct_id": f"$device:{identity}",
            "$device_id": identity,
            "time": epoch_millis(event),
            "$insert_id": insert_id(str(event["id"])),
            **_properties(event),
        }
        revenue = signed_revenue(event)
        if revenue is not None:
            properties["revenue"] = revenue
        return {"event": human_event_name(event), "properties": properties}

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        built, accepted = screened(items, _refusal)
        entries = [(position, _wire_event(item)) for position, item in accepted]
        # The body is the bare JSON array of events.
        for positions, body in pack(entries, list, max_count=MAX_EVENTS_PER_REQUEST, max_bytes=MAX_IMPORT_BYTES):
            built.requests.append(import_request(credentials, body, positions))
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        if response.status == 413:
            return too_large_outcomes(request, "Mixpanel's request size limit")
        if response.status == 400:
            return _import_partial_failure(request, response)
        if response.status == 429:
            return dict.fromkeys(request.items, Outcome.throttle("http_429", wait=RATE_LIMIT_WINDOW_SECONDS))
        return dict.fromkeys(request.items, status_outcome("Mixpanel", request, response))


def _refusal(payload: Mapping[str, Any]) -> Outcome | None:
    """Why Mixpanel would reject this event, or None when it is fine to send."""
    properties = payload.get("properties")
    if not payload.get("event"):
        return Outcome.skipped("missing_event_name", "the mapped event has no event name; Mixpanel requires one")
    if not isinstance(properties, dict) or not any(
        properties.get(key) for key in ("distinct_id", "$device_id", "$user_id")
    ):
        return Outcome.skipped(
            "missing_identifier", "the mapped event has no distinct_id, $device_id or $user_id in its properties"
        )
    return None


def _wire_event(item: DeliveryItem) -> dict[str, Any]:
    """The mapped event as sent: with a valid `$insert_id`."""
    properties = dict(item.payload["properties"])
    properties["$insert_id"] = insert_id(str(properties.get("$insert_id") or item.event["id"]))
    return {**item.payload, "properties": properties}


def _import_partial_failure(request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
    reasons: dict[int, str | None] = {}  # a non-empty reason always gives a message
    for record in typed_entries(json_object(response.body), "failed_records", dict):
        index = typed(record, "index", int)
        if index is not None:
            field = f"{name}: " if (name := typed(record, "field", str)) else ""
            reason = f"{field}{typed(record, 'message', str) or 'failed validation'}"
            reasons.setdefault(index, provider_message(reason, request))
    if not reasons:
        return dict.fromkeys(request.items, status_outcome("Mixpanel", request, response).refused_together())
    # strict=1: Mixpanel imported every event it did not list; resending those would only duplicate work.
    imported = Outcome.delivered("imported (other events in the same request failed validation)")
    return {
        position: Outcome.permanent("mixpanel_invalid_event", reasons[index]) if index in reasons else imported
        for index, position in enumerate(request.items)
    }


PROVIDER = Mixpanel()
