"""Mixpanel ingestion (providers.md A6): `/import` with a service account, `/track` with the project token alone.

Hosts by `region`: us → api.mixpanel.com, eu → api-eu.mixpanel.com, in → api-in.mixpanel.com.
* Service account configured: `POST /import?strict=1&project_id=<id>&ip=0`, HTTP Basic `username:secret`; any
  event age; at most 2000 events and 10 MB uncompressed per request (current import reference). `strict=1` makes
  Mixpanel validate every event and name the failed ones.
* Otherwise: `POST /track?verbose=1&ip=0` with the token in each event's `properties.token`; `/track` keeps only
  events of the last 5 days (older ones are skipped here rather than silently dropped there). Same 2000-event cap;
  2 MB per request (the older documented limit: no current figure for /track, so the stricter one).
Both take a JSON array. `ip=0` stops Mixpanel geolocating our server's address (what its server SDKs send); the
event's own location goes in `$city` / `$region` / `mp_country_code`.

Time: `properties.time` is milliseconds (the import reference's unit, kept by the default mapping); /track is
documented in seconds, so a millisecond value is converted there (recognisable: above 10^11). Identity: `$device_id`
is the visitor identity and `distinct_id` is `$device:<identity>`, the value Mixpanel itself derives for anonymous
events under Simplified ID Merge (an opaque id under Original ID Merge). Dedup: `$insert_id` (≤ 36 characters
of [A-Za-z0-9-]), the event id when it fits, else a UUIDv5 derived from it; a mapping's value that does not fit is
derived the same way, and a removed one is set back from the event id (/import requires it; dedup needs it).

Responses: `/import` 200 delivered; 400 with `failed_records` is a partial success: the listed events are
permanent and the others were imported (delivered, never resent); a 400 without them is permanent. `/track` 200
with `{"status": 0, "error": ...}` (verbose) or `0` is permanent. 401/403 and other 4xx permanent; 413 one event
permanent / batch retried; 408, 429 (Retry-After honoured) and 5xx retried.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlencode, urlsplit

from pydantic import StringConstraints, model_validator

from .analytics import (
    EVENT_NAME_DOC,
    IDENTITY_DOC,
    MappingDoc,
    age_seconds,
    as_uuid,
    canonical_properties,
    human_event_name,
    json_object,
    pack,
    parse_json,
    property_doc,
    redact,
    secret_forms,
    signed_revenue,
    status_outcome,
    too_large_outcomes,
)
from .base import (
    Built,
    Credentials,
    DeliveryItem,
    OutboundRequest,
    Outcome,
    Provider,
    ProviderResponse,
    SecretStr,
    Verdict,
)
from .common import anonymous_id, epoch_millis

HOSTS: Mapping[str, str] = {
    "us": "https://api.mixpanel.com",
    "eu": "https://api-eu.mixpanel.com",
    "in": "https://api-in.mixpanel.com",
}
MAX_EVENTS_PER_REQUEST = 2000
MAX_IMPORT_BYTES = 10_000_000
MAX_TRACK_BYTES = 2_000_000
MAX_TRACK_AGE_SECONDS = 5 * 24 * 3600
_MILLISECONDS_THRESHOLD = 10**11  # a `time` above this is milliseconds (as seconds it would be the year 5138)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")

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


class MixpanelCredentials(Credentials):
    project_token: SecretStr
    project_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] | None = None
    service_account_username: SecretStr | None = None
    service_account_secret: SecretStr | None = None
    region: Literal["us", "eu", "in"] = "us"

    @model_validator(mode="after")
    def _service_account_is_complete(self) -> Self:
        parts = (self.project_id, self.service_account_username, self.service_account_secret)
        if any(parts) and not all(parts):
            raise ValueError(
                "project_id, service_account_username and service_account_secret go together (all or none)"
            )
        return self


@dataclass(frozen=True, slots=True)
class _Route:
    """Where a batch goes and how it authenticates: /import (service account) or /track (project token)."""

    url: str
    headers: Mapping[str, str]
    secrets: tuple[str, ...]
    max_body_bytes: int
    token: str | None  # set for /track: goes into every event's properties

    @property
    def is_track(self) -> bool:
        return self.token is not None


def _route(credentials: Mapping[str, Any]) -> _Route:
    host = HOSTS[credentials.get("region") or "us"]
    username, secret = credentials.get("service_account_username"), credentials.get("service_account_secret")
    if username and secret and credentials.get("project_id"):
        basic = base64.b64encode(f"{username}:{secret}".encode()).decode("ascii")
        query = urlencode({"strict": "1", "project_id": str(credentials["project_id"]), "ip": "0"})
        return _Route(
            url=f"{host}/import?{query}",
            headers={"Content-Type": "application/json", "Authorization": f"Basic {basic}"},
            # The Basic value is the credentials in base64: redact it as well as the raw parts.
            secrets=secret_forms(str(username), str(secret), basic),
            max_body_bytes=MAX_IMPORT_BYTES,
            token=None,
        )
    token = str(credentials["project_token"])
    return _Route(
        url=f"{host}/track?{urlencode({'verbose': '1', 'ip': '0'})}",
        headers={"Content-Type": "application/json"},
        secrets=secret_forms(token),
        max_body_bytes=MAX_TRACK_BYTES,
        token=token,
    )


def insert_id(value: str) -> str:
    """A Mixpanel `$insert_id` for an id: the id itself when it fits (≤ 36 of [A-Za-z0-9-]), else a derived UUID."""
    return value if _INSERT_ID.fullmatch(value) else as_uuid(value)


class Mixpanel(Provider):
    destination_type = "mixpanel"
    action_types = frozenset({"send_event"})
    credentials_model = MixpanelCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[MappingDoc] = (
        (
            "(request)",
            "service account: POST {host}/import?strict=1&project_id=…&ip=0, Basic auth; else POST "
            "{host}/track?verbose=1&ip=0 with properties.token; body: JSON array; hosts api / api-eu / api-in",
        ),
        ("event", EVENT_NAME_DOC),
        ("properties.$device_id", IDENTITY_DOC),
        ("properties.distinct_id", "`$device:` + the $device_id value (Mixpanel's anonymous distinct_id)"),
        ("properties.time", "`occurred_at` in milliseconds (sent in seconds to /track)"),
        (
            "properties.$insert_id",
            "event `id` when it is ≤ 36 characters of [A-Za-z0-9-], else a UUIDv5 derived from it (dedup key)",
        ),
        *property_doc("properties.", RENAMES),
        ("properties.revenue", "sale: `conversion.value`; refund/cancellation/reversal: minus `conversion.value`"),
        ("properties.token", "the project token, added at send time on /track only"),
        ("(privacy)", "strict mode: no $region, no $city; never IP (ip=0) or user agent"),
        ("(not sent)", "conversion.email, conversion.phone: add them with an `include` override"),
        (
            "(refused)",
            "no event name or none of distinct_id/$device_id/$user_id after mapping; older than 5 days on /track",
        ),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        identity = anonymous_id(event)
        properties: dict[str, Any] = {
            "distinct_id": f"$device:{identity}",
            "$device_id": identity,
            "time": epoch_millis(event),
            "$insert_id": insert_id(str(event["id"])),
            **canonical_properties(event, RENAMES),
        }
        revenue = signed_revenue(event)
        if revenue is not None:
            properties["revenue"] = revenue
        return {"event": human_event_name(event), "properties": properties}

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        route = _route(credentials)
        built = Built()
        entries: list[tuple[int, dict[str, Any]]] = []
        for position, item in enumerate(items):
            refusal = _refusal(item, route, now)
            if refusal:
                built.skipped[position] = refusal
            else:
                entries.append((position, _wire_event(item, route)))
        # The body is the bare JSON array of events.
        for positions, body in pack(entries, list, max_count=MAX_EVENTS_PER_REQUEST, max_bytes=route.max_body_bytes):
            built.requests.append(
                OutboundRequest(
                    method="POST",
                    url=route.url,
                    headers=route.headers,
                    body=body,
                    items=positions,
                    secrets=route.secrets,
                )
            )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        if response.status == 413:
            return too_large_outcomes(request, "Mixpanel's request size limit")
        is_import = urlsplit(request.url).path.endswith("/import")
        if is_import and response.status == 400:
            return _import_partial_failure(request, response)
        outcome = status_outcome("Mixpanel", request, response)
        if not is_import and outcome.verdict is Verdict.DELIVERED:
            outcome = _track_outcome(request, response)
        return dict.fromkeys(request.items, outcome)


def _refusal(item: DeliveryItem, route: _Route, now: float) -> Outcome | None:
    """Why Mixpanel would reject or silently drop this event, or None when it is fine to send."""
    payload = item.payload
    properties = payload.get("properties")
    if not payload.get("event"):
        return Outcome.skipped("missing_event_name", "the mapped event has no event name; Mixpanel requires one")
    if not isinstance(properties, dict) or not any(
        properties.get(key) for key in ("distinct_id", "$device_id", "$user_id")
    ):
        return Outcome.skipped(
            "missing_identifier", "the mapped event has no distinct_id, $device_id or $user_id in its properties"
        )
    if route.is_track and age_seconds(item.event, now) > MAX_TRACK_AGE_SECONDS:
        return Outcome.skipped(
            "event_too_old",
            "Mixpanel /track drops events older than 5 days; configure a service account to use /import",
        )
    return None


def _wire_event(item: DeliveryItem, route: _Route) -> dict[str, Any]:
    """The mapped event as sent: a valid `$insert_id`, and for /track the token and `time` in seconds."""
    properties = dict(item.payload["properties"])
    properties["$insert_id"] = insert_id(str(properties.get("$insert_id") or item.event["id"]))
    if route.is_track:
        properties["token"] = route.token
        time = properties.get("time")
        if isinstance(time, int | float) and not isinstance(time, bool) and time > _MILLISECONDS_THRESHOLD:
            properties["time"] = int(time // 1000)
    return {**item.payload, "properties": properties}


def _import_partial_failure(request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
    failed = json_object(response.body).get("failed_records")
    reasons: dict[int, str] = {}
    for record in failed if isinstance(failed, list) else []:
        if isinstance(record, dict) and isinstance(record.get("index"), int):
            field = f"{record['field']}: " if record.get("field") else ""
            reasons.setdefault(record["index"], f"{field}{record.get('message') or 'failed validation'}")
    if not reasons:
        return dict.fromkeys(request.items, status_outcome("Mixpanel", request, response))
    # strict=1: Mixpanel imported every event it did not list; resending those would only duplicate work.
    imported = Outcome.delivered("imported (other events in the same request failed validation)")
    return {
        position: Outcome.permanent("mixpanel_invalid_event", reasons[index]) if index in reasons else imported
        for index, position in enumerate(request.items)
    }


def _track_outcome(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    """/track answers 200 even when it rejects: `{"status": 0, "error": ...}` (verbose=1) or a bare `0`."""
    body = parse_json(response.body)
    status = body.get("status") if isinstance(body, dict) else body
    if status == 1:
        return Outcome.delivered()
    error = str(body.get("error") or "status 0") if isinstance(body, dict) else "status 0"
    return Outcome.permanent("mixpanel_rejected", f"Mixpanel /track rejected the request: {redact(error, request)}")


PROVIDER = Mixpanel()
