"""LinkedIn Conversions API: `POST https://api.linkedin.com/rest/conversionEvents`.

* Auth: a member access token (they expire 60 days after they are issued). With a `refresh_token`, `client_id`
  and `client_secret` (LinkedIn's programmatic refresh tokens, valid a year) `authorize` obtains access tokens at
  `https://www.linkedin.com/oauth/v2/accessToken` (`grant_type=refresh_token`, form-encoded) and caches each until
  shortly before it expires; after a 401 the dispatcher forgets it and resends once with a fresh one. LinkedIn's
  token answer says when the refresh token expires (`refresh_token_expires_in`): that is `credential_expiry`.
  See https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens. Without a
  refresh token the static `access_token` is sent as given and the destination carries a warning that it expires.
* Headers `Authorization: Bearer`, `LinkedIn-Version: YYYYMM` (monthly versions, each supported for at least a
  year) and `X-Restli-Protocol-Version: 2.0.0`. Every request is a Rest.li batch create
  (`X-RestLi-Method: BATCH_CREATE`, body `{"elements": [...]}`), even for one event: LinkedIn answers one status
  per element, so a batch can partly fail and each event gets its own outcome. An empty 2xx body means every
  element was created; an event whose status cannot be read from a 2xx answer (no such element, or a body that
  is not the documented object) is `invalid_response`, permanent: LinkedIn had the request, it is not sent again.
  A 400 or 422 for the whole request names no element: its events are refused together, resent at once in halves
  until the refusal is one event's own (design §8.1).
* Up to 5,000 events per batch (integrators' documentation; LinkedIn's own page does not state it). LinkedIn
  accepts events up to 90 days old and refuses older ones per element.
* LinkedIn has no test channel. A test send is sent as a real conversion event (sample identifiers are unlikely
  to match a member) and its delivered outcome says so: sending nothing would prove nothing, while a real send
  checks the token, the conversion rule and the API version.
* A version LinkedIn no longer serves is answered `426 {"code": "NONEXISTENT_VERSION", "message": "Requested
  version 20240901 is not active"}` (LinkedIn's live answers, e.g. PipedreamHQ/pipedream#18398; versions are
  "supported and stable for a minimum of one year before sunset", https://learn.microsoft.com/linkedin/marketing/versioning):
  `api_version_retired`, permanent, until LINKEDIN_VERSION is moved on (docs/api-versions.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self

from pydantic import StringConstraints, model_validator

from . import base
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse
from .common import epoch_millis, json_bytes
from .conversions import (
    SCREENED_OUT_DOC,
    ConversionRequest,
    build_batches,
    click_id,
    conversion_value,
    customer_contact,
    delivered,
    hashed,
    is_supported_conversion,
    missing_identifier,
    normalize_email,
    trimmed,
)
from .oauth import ACCESS_TOKEN, RefreshingProvider
from .responses import (
    error_code,
    invalid_response,
    provider_message,
    read_json,
    status_line_outcome,
    typed,
)

PLATFORM = "LinkedIn"
API_URL = "https://api.linkedin.com/rest/conversionEvents"
LINKEDIN_VERSION = "202608"
RETIRED_VERSION_STATUS = 426  # with code NONEXISTENT_VERSION: the LinkedIn-Version sent is no longer served
RETIRED_VERSION_CODE = "NONEXISTENT_VERSION"
RESTLI_PROTOCOL_VERSION = "2.0.0"
MAX_EVENTS_PER_REQUEST = 5000
# Whole-request refusals of what the request carries (Rest.li's 400 Bad Request, 422 Unprocessable Entity), unlike
# 401/403 (the token, the account) or 426 (the API version).
CONTENT_REFUSAL_STATUSES = frozenset({400, 422})
RULE_URN_PREFIX = "urn:lla:llaPartnerConversion:"
SHA256_EMAIL = "SHA256_EMAIL"
FIRST_PARTY_ADS_TRACKING_UUID = "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID"
TEST_SEND_NOTE = "test send: LinkedIn has no test mode, so this was sent as a real conversion event"
TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
ACCESS_TOKEN_LIFETIME_SECONDS = 60 * 24 * 3600.0  # LinkedIn: access tokens are valid for 60 days
UNAUTHORIZED_MESSAGE = (
    "LinkedIn rejected the access token (HTTP 401). LinkedIn access tokens expire 60 days after they are issued: "
    "give the destination a refresh_token, client_id and client_secret so Nimriz renews them, or a new access_token"
)
STATIC_TOKEN_WARNING = (
    "This destination has a LinkedIn access_token but no refresh_token: LinkedIn access tokens expire 60 days "
    "after they are issued, and deliveries then fail as 'unauthorized'. Add refresh_token, client_id and "
    "client_secret so Nimriz renews the access token."
)


class LinkedInCredentials(base.Credentials):
    access_token: base.SecretStr | None = None  # optional when the refresh fields are given
    refresh_token: base.SecretStr | None = None
    client_id: base.PlainStr | None = None
    client_secret: base.SecretStr | None = None
    conversion_rule_id: Annotated[
        str, StringConstraints(pattern=r"^([0-9]{1,20}|urn:lla:llaPartnerConversion:[0-9]{1,20})$")
    ]

    @model_validator(mode="after")
    def _a_token_or_a_way_to_get_one(self) -> Self:
        refresh = (self.refresh_token, self.client_id, self.client_secret)
        if any(refresh) and not all(refresh):
            raise ValueError("refresh_token, client_id and client_secret go together (all or none)")
        if not self.access_token and not self.refresh_token:
            raise ValueError("give an access_token, or a refresh_token with client_id and client_secret")
        return self


class LinkedIn(RefreshingProvider):
    destination_type = "linkedin"
    action_types = frozenset({"send_conversion"})
    credentials_model = LinkedInCredentials
    max_batch_size = MAX_EVENTS_PER_REQUEST
    platform = PLATFORM
    token_url = TOKEN_URL
    default_token_lifetime_seconds = ACCESS_TOKEN_LIFETIME_SECONDS
    max_token_lifetime_seconds = ACCESS_TOKEN_LIFETIME_SECONDS
    preview_note = "The access token is obtained from LinkedIn with the refresh token when the delivery is sent"

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("conversion", "`urn:lla:llaPartnerConversion:<conversion_rule_id>` from the credentials (always)"),
        ("conversionHappenedAt", "`occurred_at` as Unix milliseconds"),
        ("eventId", "the event `id`: LinkedIn deduplicates it against the Insight Tag's event id"),
        ("user.userIds[SHA256_EMAIL]", "`conversion.email`, trimmed and lower-cased, SHA-256 hex"),
        ("user.userIds[LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID]", "`click_ids.li_fat_id`, not hashed"),
        ("conversionValue.amount", "`conversion.value` as a decimal string (a lead's 0 is left out)"),
        ("conversionValue.currencyCode", "`conversion.currency`, upper-case ISO-4217"),
        ("phone", "not sent: LinkedIn's Conversions API takes no phone identifier"),
        ("test sends", "sent as real conversion events (LinkedIn has no test mode); the outcome message says so"),
        ("hashing", "SHA256_* user ids set by a mapping are normalised and hashed unless already SHA-256 hex"),
        ("not sent", f"`missing_identifier` without a user id or userInfo first and last name; {SCREENED_OUT_DOC}"),
    )

    # -- authorization -----------------------------------------------------------------------------------------

    def can_refresh_authorization(self, credentials: Mapping[str, Any]) -> bool:
        # Without a refresh token the static access token is sent as given until LinkedIn refuses it; its expiry is
        # not known to Nimriz (LinkedIn says it only when the token is issued).
        return _refreshable(credentials)

    def credential_warnings(self, credential_hints: Mapping[str, Any]) -> list[str]:
        return [] if credential_hints.get("refresh_token") else [STATIC_TOKEN_WARNING]

    # -- delivery ----------------------------------------------------------------------------------------------

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if not is_supported_conversion(event):
            return {}  # never sent: build_requests records why
        payload: dict[str, Any] = {
            "conversionHappenedAt": epoch_millis(event),
            "eventId": str(event["id"]),
            "user": {"userIds": _user_ids(event)},
        }
        if money := conversion_value(event):
            payload["conversionValue"] = {"currencyCode": money[1], "amount": _decimal_string(money[0])}
        return payload

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        rule = rule_urn(str(credentials["conversion_rule_id"]))
        return build_batches(
            items,
            platform=PLATFORM,
            prepare=lambda item: _prepare(item.payload, rule),
            max_batch_size=self.max_batch_size,
            build_request=lambda payloads, positions, test: _request(payloads, positions, test, credentials),
        )

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        failure = status_line_outcome(PLATFORM, response)
        if response.status == 401:
            failure = Outcome.permanent("unauthorized", UNAUTHORIZED_MESSAGE)
        if failure is None and response.status >= 300:
            failure = _request_error(request, response)
        if failure is not None:
            if response.status in CONTENT_REFUSAL_STATUSES:
                failure = failure.refused_together()
            return dict.fromkeys(request.items, failure)
        body = read_json(response.body)
        if problem := body.problem_with("elements", list):
            return dict.fromkeys(request.items, invalid_response(PLATFORM, response, problem))
        elements = typed(body.value, "elements", list)
        if elements is None:
            return dict.fromkeys(request.items, delivered(request))  # 201 without a body (or statuses): all created
        return {
            position: _element_outcome(elements[index] if index < len(elements) else None, request, response)
            for index, position in enumerate(request.items)
        }


def _refreshable(credentials: Mapping[str, Any]) -> bool:
    return bool(credentials.get("refresh_token"))


def rule_urn(conversion_rule_id: str) -> str:
    """Customers may paste the rule's number or its URN."""
    return (
        conversion_rule_id if conversion_rule_id.startswith(RULE_URN_PREFIX) else RULE_URN_PREFIX + conversion_rule_id
    )


def _user_ids(event: Mapping[str, Any]) -> list[dict[str, str]]:
    user_ids = []
    if (email := customer_contact(event, "email")) and (digest := hashed(email, normalize_email)):
        user_ids.append({"idType": SHA256_EMAIL, "idValue": digest})
    if li_fat_id := click_id(event, "li_fat_id"):
        user_ids.append({"idType": FIRST_PARTY_ADS_TRACKING_UUID, "idValue": li_fat_id})
    return user_ids


def _decimal_string(value: int | float) -> str:
    return format(Decimal(str(value)), "f")


def _prepare(payload: Mapping[str, Any], rule: str) -> dict[str, Any] | Outcome:
    event = dict(payload)
    event["conversion"] = rule
    event["user"] = user = _hashed_user(payload.get("user"))
    user_info = user.get("userInfo")
    has_name = isinstance(user_info, Mapping) and bool(user_info.get("firstName") and user_info.get("lastName"))
    if not user["userIds"] and not has_name:
        return missing_identifier(PLATFORM, "the customer's email or an li_fat_id on the click")
    return event


def _hashed_user(user: object) -> dict[str, Any]:
    """`user` with `userIds` always present (LinkedIn requires it) and every SHA256_* id value hashed."""
    result: dict[str, Any] = dict(user) if isinstance(user, Mapping) else {}
    user_ids = []
    for entry in result.get("userIds") or []:
        if not isinstance(entry, Mapping) or not entry.get("idValue"):
            continue
        id_type = str(entry.get("idType") or "")
        if not id_type.startswith("SHA256_"):
            user_ids.append(dict(entry))
        elif digest := hashed(entry["idValue"], normalize_email if id_type == SHA256_EMAIL else trimmed):
            user_ids.append({**entry, "idValue": digest})
    result["userIds"] = user_ids
    return result


def _request(
    payloads: list[dict[str, Any]], positions: tuple[int, ...], test: bool, credentials: Mapping[str, Any]
) -> OutboundRequest:
    token = credentials.get(ACCESS_TOKEN)
    if not token:
        raise ValueError("LinkedIn requests need an access token: stored, or added by authorize() when refreshing")
    token = str(token)
    return ConversionRequest(
        method="POST",
        url=API_URL,
        headers={
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": LINKEDIN_VERSION,
            "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
            "X-RestLi-Method": "BATCH_CREATE",
            "Content-Type": "application/json",
        },
        body=json_bytes({"elements": payloads}),
        items=positions,
        secrets=(token,),
        note=TEST_SEND_NOTE if test else None,
    )


def _error_class(error: object, status: int, request: OutboundRequest) -> str:
    code = error_code(typed(error, "code", str), request)
    return f"linkedin_{code.lower()}" if code else f"http_{status}"


def _request_error(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    body = read_json(response.body).value
    if not isinstance(body, dict):
        return base.classify_status(response)
    message = provider_message(body.get("message"), request)
    if response.status == RETIRED_VERSION_STATUS or body.get("code") == RETIRED_VERSION_CODE:
        return Outcome.version_retired(PLATFORM, LINKEDIN_VERSION, message)
    return Outcome.permanent(_error_class(body, response.status, request), message)


def _element_outcome(element: object, request: OutboundRequest, response: ProviderResponse) -> Outcome:
    status = typed(element, "status", int)
    if status is None or not 100 <= status <= 599:
        return invalid_response(PLATFORM, response, "no HTTP status for this event")
    if 200 <= status < 300:
        return delivered(request)
    error = typed(element, "error", dict)
    message = provider_message(typed(error, "message", str), request)
    if status == 429:  # LinkedIn's rate limit (Rate Limits page: "Rate limited requests will receive a 429
        # response"), stating no wait: our schedule's (design §8.1)
        return Outcome.throttle(f"http_{status}", message)
    if status == 408 or status >= 500:
        return Outcome.retry(f"http_{status}", message)
    return Outcome.permanent(_error_class(error, status, request), message)


PROVIDER = LinkedIn()
