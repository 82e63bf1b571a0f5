"""PostHog capture (https://posthog.com/docs/api/capture): `POST {host}/batch/` with `{"api_key", "batch": [...]}`.

`host` is the customer's ingestion host (US cloud by default; `https://eu.i.posthog.com`, or a self-hosted domain),
SSRF-checked at save and at send. The project API key travels in the body. No event-count limit; the body must be
under 20 MB, and we stay under the official SDK's 5 MiB batch cap so self-hosted defaults are safe too.

Replays (`reason` "replay", and "retry": a later attempt cannot tell a replay's retry from a live one's, and an
event retried for over a day is a backfill either way) of events whose `occurred_at` is more than a day before now
go in requests of their own with `"historical_migration": true`, as PostHog asks for backfills
(https://posthog.com/docs/api/capture, https://posthog.com/docs/migrate): they take PostHog's historical ingestion
path instead of competing with live traffic. Live and test sends never carry the flag.

Events are anonymous (`$process_person_profile: false`: a daily-rotating or per-click id must not create person
profiles) and carry `$geoip_disable: true` with the event's own location as `$geoip_*` properties, because PostHog
would otherwise geolocate our server's address. Dedup: `uuid`, which must be a valid UUID: the event id when it
is one, else a UUIDv5 derived from it (also applied to a mapping's non-UUID value, so retries keep one uuid).

Responses (capture service and docs): 200 `{"status": 1 | "Ok"}` delivered, except when it reports
`quota_limited` — PostHog dropped the events for the project's billing limit, which is permanent for this
delivery (replayable once the quota allows). A 200 whose body is there but is not such an object cannot say
whether PostHog kept the events: `invalid_response`, permanent (not sent again). 400 (malformed request, invalid
event: naming none, so a batch's events are refused together and resent at once in halves, design §8.1) and 401
(invalid project API key) permanent; 413 one event permanent / a batch refused together; 429 retried, unless
its body says the billing limit was reached (permanent); 408 and 5xx retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator

from . import base
from .analytics import (
    EVENT_NAME_DOC,
    IDENTITY_DOC,
    MappingDoc,
    as_uuid,
    base_url,
    human_event_name,
    json_posts,
    property_doc,
    property_projection,
    screened,
    signed_revenue,
)
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, Verdict
from .common import anonymous_id, occurred_at, occurred_at_text
from .responses import (
    error_excerpt,
    invalid_response,
    provider_message,
    read_json,
    status_outcome,
    too_large_outcomes,
    typed,
)

DEFAULT_HOST = "https://us.i.posthog.com"
BATCH_PATH = "/batch/"
MAX_EVENTS_PER_REQUEST = 1000  # PostHog has no count limit; this bounds one request's work
MAX_BODY_BYTES = 5 * 1024 * 1024  # the official SDK's batch cap (PostHog's own limit is 20 MB)
HISTORICAL_AFTER_SECONDS = 24 * 3600
REPLAY_REASONS = frozenset({"replay", "retry"})

# Canonical properties under PostHog's own names, so its web analytics and GeoIP-style breakdowns work.
RENAMES: Mapping[str, str] = {
    "country": "$geoip_country_code",
    "region": "$geoip_subdivision_1_code",
    "city": "$geoip_city_name",
    "browser_family": "$browser",
    "os_family": "$os",
    "referrer": "$referrer",
    "referrer_host": "$referring_domain",
}
_properties = property_projection(RENAMES)
_FIXED_PROPERTIES: Mapping[str, Any] = {"$process_person_profile": False, "$geoip_disable": True}


class PostHogCredentials(base.Credentials):
    api_key: base.SecretStr
    host: Annotated[base.HttpsUrl, AfterValidator(base_url)] = DEFAULT_HOST


class PostHog(base.Provider):
    destination_type = "posthog"
    action_types = frozenset({"send_event"})
    credentials_model = PostHogCredentials
    url_fields = ("host",)
    max_batch_size = MAX_EVENTS_PER_REQUEST

    default_mapping_doc: ClassVar[MappingDoc] = (
        ("(request)", 'POST {host}/batch/ {"api_key": …, "batch": [...]}; host default https://us.i.posthog.com'),
        (
            "historical_migration",
            "true, in a request of its own, for replays and retries of events whose `occurred_at` is over a day old; "
            "absent otherwise",
        ),
        ("event", EVENT_NAME_DOC),
        ("distinct_id", IDENTITY_DOC),
        ("timestamp", "`occurred_at` (ISO 8601 UTC, milliseconds)"),
        ("uuid", "event `id` when it is a UUID, else a UUIDv5 derived from it (PostHog's dedup key)"),
        *property_doc("properties.", RENAMES),
        ("properties.revenue", "sale: `conversion.value`; refund/cancellation/reversal: minus `conversion.value`"),
        ("properties.$process_person_profile", "false (anonymous events: no person profiles)"),
        ("properties.$geoip_disable", "true (PostHog must not geolocate our server's address)"),
        ("(privacy)", "strict mode: no $geoip_subdivision_1_code, no $geoip_city_name; never IP or user agent"),
        ("(not sent)", "conversion.email, conversion.phone: add them with an `include` override"),
        ("(refused)", "no event name or an empty distinct_id after mapping: skipped (PostHog would drop it)"),
    )

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        properties = _properties(event)
        revenue = signed_revenue(event)
        if revenue is not None:
            properties["revenue"] = revenue
        properties.update(_FIXED_PROPERTIES)
        return {
            "event": human_event_name(event),
            "distinct_id": anonymous_id(event),
            "timestamp": occurred_at_text(event),
            "uuid": as_uuid(str(event["id"])),
            "properties": properties,
        }

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        api_key = str(credentials["api_key"])
        built, accepted = screened(items, _refusal)
        url = str(credentials.get("host") or DEFAULT_HOST).rstrip("/") + BATCH_PATH
        for historical in (False, True):  # backfills go in requests of their own, flagged historical_migration
            built.requests += json_posts(
                url,
                [
                    (position, _with_valid_uuid(item.payload))
                    for position, item in accepted
                    if _is_backfill(item, now) is historical
                ],
                partial(_batch_body, api_key, historical),
                max_count=MAX_EVENTS_PER_REQUEST,
                max_bytes=MAX_BODY_BYTES,
                secrets=(api_key,),
            )
        return built

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        if response.status == 413:
            return too_large_outcomes(request, "PostHog's request size limit")
        return dict.fromkeys(request.items, _outcome(request, response))


def _batch_body(api_key: str, historical: bool, events: list[Any]) -> dict[str, Any]:
    flag = {"historical_migration": True} if historical else {}
    return {"api_key": api_key, **flag, "batch": events}


def _is_backfill(item: DeliveryItem, now: float) -> bool:
    """A replay (or retry) of an event more than a day old: PostHog wants it flagged `historical_migration`."""
    return item.reason in REPLAY_REASONS and now - occurred_at(item.event).timestamp() > HISTORICAL_AFTER_SECONDS


def _refusal(payload: Mapping[str, Any]) -> Outcome | None:
    """Why PostHog would silently drop this event, or None when it is fine to send."""
    if not payload.get("event"):
        return Outcome.skipped("missing_event_name", "the mapped event has no event name; PostHog would drop it")
    properties = payload.get("properties")
    nested_id = properties.get("distinct_id") if isinstance(properties, dict) else None
    if not (payload.get("distinct_id") or nested_id):
        return Outcome.skipped("missing_identifier", "the mapped event has no distinct_id; PostHog would drop it")
    return None


def _with_valid_uuid(payload: dict[str, Any]) -> dict[str, Any]:
    # PostHog drops an event whose uuid is not a UUID; a deterministic one keeps retries deduplicable.
    value = payload.get("uuid")
    if value is None:
        return payload
    normalised = as_uuid(str(value))
    return payload if normalised == value else {**payload, "uuid": normalised}


def _outcome(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    if response.status == 429 and b"billing limit" in response.body.lower():
        return Outcome.permanent("posthog_quota_limited", f"PostHog {error_excerpt(request, response)}")
    outcome = status_outcome("PostHog", request, response)
    if response.status == 400:
        return outcome.refused_together()
    if outcome.verdict is not Verdict.DELIVERED:
        return outcome
    body = read_json(response.body)
    if problem := body.problem_with("quota_limited", list):
        return invalid_response("PostHog", response, problem)
    quota_limited = typed(body.value, "quota_limited", list)
    if quota_limited:
        limited = provider_message(", ".join(str(entry) for entry in quota_limited), request)
        return Outcome.permanent(
            "posthog_quota_limited",
            f"PostHog dropped the events: the project is over its billing limit (quota_limited: {limited})",
        )
    return outcome


PROVIDER = PostHog()
