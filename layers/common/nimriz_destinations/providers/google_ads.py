"""Google Ads offline conversions, REST bindings of ConversionUploadService.UploadClickConversions and
ConversionAdjustmentUploadService.UploadConversionAdjustments:
`POST https://googleads.googleapis.com/{version}/customers/{customer_id}:uploadClickConversions` (leads, sales) and
`...:uploadConversionAdjustments` (refunds, cancellations, reversals), each in requests of its own.

* Auth: an OAuth access token obtained from the refresh token at `https://oauth2.googleapis.com/token` in
  `authorize` (oauth.RefreshTokenGrant), cached (bounded) until shortly before it expires and dropped by
  `forget_authorization` after a 401;
  plus the `developer-token` header and, when calling through a manager account, `login-customer-id`.
* `partialFailure: true` (required by Google): each conversion or adjustment gets its own outcome from the
  per-index errors in `partialFailureError`. Up to 2,000 conversions (or adjustments) per request. A 2xx whose
  body is not such an object, or whose `partialFailureError` cannot be read, cannot say which rows Google kept:
  `invalid_response`, permanent (not sent again).
* Dedup: `orderId` is the event id and `conversionDateTime` is derived from `occurred_at` only, so a resend of the
  same event is refused as ORDER_ID_ALREADY_IN_USE or CLICK_CONVERSION_ALREADY_EXISTS: both count as delivered.
  Copies of one order id *within* a request are a different matter: Google processes none of them
  (googleads/google-ads-python `errors/types/conversion_upload_error.py`, DUPLICATE_ORDER_ID: "Imported events
  include multiple conversions with the same order ID and were not processed"; for adjustments
  `conversion_adjustment_upload_error.py`, DUPLICATE_ADJUSTMENT_IN_REQUEST, "... try again"). So a request carries
  at most one row per order id (later copies go in later requests, in order, where they meet
  ORDER_ID_ALREADY_IN_USE), and an in-request duplicate Google still reports is retried, never delivered.
* Test sends set `validateOnly: true`: Google checks the conversions and records nothing.
* Adjustments (https://developers.google.com/google-ads/api/docs/conversions/upload-adjustments and the
  ConversionAdjustment reference): a refund, cancellation or reversal whose `conversion.original_event_id` names
  the sale adjusts it by `orderId` (the sale was uploaded with its event id as order id): RETRACTION for a
  cancellation or a full refund / reversal; RESTATEMENT to the remaining value for a partial one (its `value`
  below the event's `conversion.original_value`). `adjustmentDateTime` is the follow-on's `occurred_at`, so a
  resend repeats the same adjustment (RESTATEMENT_ALREADY_EXISTS, CONVERSION_ALREADY_RETRACTED: delivered).
  Without an original id the event is skipped (`missing_original_event_id`). Adjustments go out as soon as the
  sale was uploaded: Google dropped its 24-hour wait on 2024-09-09 ("Improvements to conversion adjustment
  uploads", Google Ads Developer Blog, 2024-08-12: "Google Ads API users will no longer need to wait 24 hours before
  uploading conversion adjustments ... Remove any logic from your application that waits before uploading
  adjustments"; TOO_RECENT_CONVERSION and TOO_RECENT_CONVERSION_ACTION are no longer returned for them). A sale
  from a wbraid click cannot be adjusted.
* Consent (https://developers.google.com/google-ads/api/docs/conversions/upload-clicks, "consent"; for EEA traffic
  a missing `adUserData` counts as not consented): every conversion carries `consent.adUserData` from the event's
  own `consent.ad_user_data` when it has one, else from the destination's `ad_user_data_consent`; with neither,
  none is sent and Google treats it as unspecified. `adPersonalization` is never sent on a click conversion, even
  from a mapping: Google's Consent reference (`common/types/consent.py`): ad_personalization "can only be set for
  OfflineUserDataJobService and UserDataService".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeGuard

from pydantic import BeforeValidator, StringConstraints

from ..event_fields import CONSENT_STATES
from . import base
from .base import Built, DeliveryItem, OutboundRequest, Outcome, ProviderResponse, Verdict
from .common import json_bytes, occurred_at
from .conversions import (
    ADJUSTED_OUTCOMES,
    SUPPORTED_OUTCOMES,
    ConversionRequest,
    Normalizer,
    Prepare,
    build_batches,
    click_id,
    conversion_outcome,
    conversion_value,
    customer_contact,
    delivered,
    e164_phone,
    hashed,
    is_supported_conversion,
    missing_identifier,
    normalize_google_email,
)
from .oauth import ACCESS_TOKEN, RefreshingProvider
from .responses import (
    error_code,
    invalid_response,
    provider_message,
    read_json,
    status_line_outcome,
    typed,
    typed_entries,
)

PLATFORM = "Google Ads"
API_BASE_URL = "https://googleads.googleapis.com"
API_VERSION = "v26"
TOKEN_URL = "https://oauth2.googleapis.com/token"
MAX_CONVERSIONS_PER_REQUEST = 2000
MAX_USER_IDENTIFIERS = 5
CLICK_ID_FIELDS = ("gclid", "gbraid", "wbraid")  # exactly one per conversion; the first present wins

MAX_TOKEN_LIFETIME_SECONDS = 3600.0  # Google access tokens live an hour
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0  # when the token answer has no usable expires_in

# Row errors meaning "this conversion is already in Google Ads": a resend of a delivered event.
DUPLICATE_ERRORS = frozenset({"CLICK_CONVERSION_ALREADY_EXISTS", "ORDER_ID_ALREADY_IN_USE"})
# Row errors Google says to retry in 6 hours (click or conversion action too recent; conversion_upload_error.py).
RETRY_LATER_ERRORS = frozenset({"TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION"})
RETRY_LATER_SECONDS = 6 * 3600.0
# Adjustment row errors meaning "this adjustment is already made": a resend of a delivered follow-on (or a
# retraction of a conversion already retracted, which leaves nothing to adjust).
ADJUSTMENT_DUPLICATE_ERRORS = frozenset({"RESTATEMENT_ALREADY_EXISTS", "CONVERSION_ALREADY_RETRACTED"})
# Follow-ons that return money, so may return part of it (a cancellation always undoes the whole sale).
PARTIAL_OUTCOMES = frozenset({"refund", "reversal"})
# RequestErrorEnum.UNSUPPORTED_VERSION (`errors/types/request_error.py`): "This API version has been sunset and is no
# longer supported" (answered 400 INVALID_ARGUMENT): API_VERSION must be moved on (docs/api-versions.md).
UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
TRANSIENT_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"})
# Error classes of a retired API version (googleads/google-ads-python, errors/types/request_error.py): about the
# request, never one of its rows.
VERSION_ERRORS = frozenset({"unsupported_version", "api_version_retired"})
TRANSIENT_ERROR_CODES = frozenset({"TRANSIENT_ERROR", "INTERNAL_ERROR", "DEADLINE_EXCEEDED"})
# QuotaError "Too many requests." / "Too many requests in a short amount of time." (errors/types/quota_error.py):
# throttled, tried again after the error's `QuotaErrorDetails.retry_delay` ("Backoff period that customers should
# wait before sending next request", errors/types/errors.py, googleads/google-ads-python).
QUOTA_ERROR_CODES = frozenset({"RESOURCE_EXHAUSTED", "RESOURCE_TEMPORARILY_EXHAUSTED"})
# A protobuf Duration in proto3 JSON: seconds with up to 9 decimals and an `s`, e.g. "60s", "1.5s".
_DURATION = re.compile(r"([0-9]{1,12})(\.[0-9]{1,9})?s")

CONSENT_FIELDS = ("adUserData",)  # what Google's Consent message takes on a click conversion
# In the Consent message, but only for OfflineUserDataJobService and UserDataService (the Consent reference): a
# mapping's value is left out rather than failing the conversion.
NOT_FOR_CLICK_CONVERSIONS = frozenset({"adPersonalization"})

# The only user identifiers click conversion uploads accept, with Google's normalisation before hashing.
HASHED_IDENTIFIERS: Mapping[str, Normalizer] = {
    "hashedEmail": normalize_google_email,
    "hashedPhoneNumber": e164_phone,
}


def _strip_dashes(value: object) -> object:
    # Customers copy ids from the Google Ads UI as 123-456-7890.
    return value.replace("-", "") if isinstance(value, str) else value


CustomerId = Annotated[str, BeforeValidator(_strip_dashes), StringConstraints(pattern=r"^[0-9]{10}$")]


class GoogleAdsCredentials(base.Credentials):
    customer_id: CustomerId
    conversion_action_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
    login_customer_id: CustomerId | None = None
    developer_token: base.SecretStr
    client_id: base.PlainStr
    client_secret: base.SecretStr
    refresh_token: base.SecretStr
    # What the customer's consent banner collects for every visitor (the event's own consent wins when it has one).
    ad_user_data_consent: Literal["granted", "denied"] | None = None


@dataclass(frozen=True, slots=True)
class _RowError:
    code: str  # e.g. CLICK_NOT_FOUND
    message: str
    index: int | None  # position in the request's rows, None when the error names no row


@dataclass(frozen=True, slots=True)
class _Upload:
    """One of the two upload methods: its path, where its rows go, and which row errors mean what."""

    method: str  # the REST custom method after `customers/{id}:`
    rows: str  # the JSON field holding the rows
    row_path: str  # the rows' field name in error locations (the proto name)
    duplicates: frozenset[str]
    duplicate_note: str
    # Row errors of rows Google did not process and says to send again -> seconds Google says to wait first (None:
    # the usual schedule).
    retry_later: Mapping[str, float | None]


CLICK_CONVERSIONS = _Upload(
    "uploadClickConversions",
    "conversions",
    "conversions",
    DUPLICATE_ERRORS,
    "already in Google Ads (duplicate upload)",
    {**dict.fromkeys(RETRY_LATER_ERRORS, RETRY_LATER_SECONDS), "DUPLICATE_ORDER_ID": None},
)
ADJUSTMENTS = _Upload(
    "uploadConversionAdjustments",
    "conversionAdjustments",
    "conversion_adjustments",
    ADJUSTMENT_DUPLICATE_ERRORS,
    "already adjusted in Google Ads (duplicate upload)",
    {"DUPLICATE_ADJUSTMENT_IN_REQUEST": None},
)


@dataclass(frozen=True, slots=True)
class GoogleAdsRequest(ConversionRequest):
    upload: _Upload = CLICK_CONVERSIONS


class GoogleAds(RefreshingProvider):
    destination_type = "google_ads"
    action_types = frozenset({"send_conversion"})
    credentials_model = GoogleAdsCredentials
    max_batch_size = MAX_CONVERSIONS_PER_REQUEST
    platform = PLATFORM
    token_url = TOKEN_URL
    default_token_lifetime_seconds = DEFAULT_TOKEN_LIFETIME_SECONDS
    max_token_lifetime_seconds = MAX_TOKEN_LIFETIME_SECONDS
    preview_note = "The access token is fetched from Google when the delivery is sent"

    default_mapping_doc: ClassVar[tuple[tuple[str, str], ...]] = (
        ("conversionAction", "`customers/<customer_id>/conversionActions/<conversion_action_id>` (always)"),
        ("gclid / gbraid / wbraid", "`click_ids.gclid`, else `gbraid`, else `wbraid`: exactly one is sent"),
        ("conversionDateTime", "`occurred_at` in UTC as `yyyy-mm-dd hh:mm:ss+00:00`"),
        (
            "orderId",
            "the event `id`: Google refuses a second upload, which counts as delivered; copies of one order id never "
            "share a request (Google would process none of them)",
        ),
        ("conversionValue", "`conversion.value` (a lead's 0 is left out, so the action's default value applies)"),
        ("currencyCode", "`conversion.currency`, upper-case ISO-4217"),
        (
            "userIdentifiers[].hashedEmail",
            "`conversion.email`, trimmed, lower-cased, dots removed from gmail.com/googlemail.com local parts, "
            "SHA-256 hex",
        ),
        ("userIdentifiers[].hashedPhoneNumber", "`conversion.phone` in E.164 with the leading +, SHA-256 hex"),
        ("partialFailure", "always true: each conversion gets its own outcome"),
        ("validateOnly", "true on test sends: Google validates and records nothing"),
        (
            "consent.adUserData",
            "`consent.ad_user_data` of the event as GRANTED / DENIED, else the destination's `ad_user_data_consent`, "
            "else not sent (Google treats it as unspecified); `adPersonalization` is never sent, even from a mapping "
            "(Google takes it only for Customer Match uploads)",
        ),
        (
            "hashing",
            "hashedEmail / hashedPhoneNumber set by a mapping are normalised and hashed unless already SHA-256 hex; "
            "other identifier kinds are dropped (uploads accept only these two), at most 5 are sent",
        ),
        (
            "adjustments: orderId",
            "refund, cancellation, reversal: `conversion.original_event_id` (the sale's order id), sent to "
            "uploadConversionAdjustments in requests of their own",
        ),
        (
            "adjustments: adjustmentType",
            "RESTATEMENT for a refund or reversal whose `conversion.value` is below `conversion.original_value` "
            "(a partial one), else RETRACTION (cancellations, full or unquantified refunds and reversals)",
        ),
        (
            "adjustments: restatementValue",
            "RESTATEMENT only: adjustedValue `conversion.original_value` minus `conversion.value`, currencyCode "
            "`conversion.currency`",
        ),
        ("adjustments: adjustmentDateTime", "`occurred_at` of the follow-on, in UTC like conversionDateTime"),
        (
            "not sent",
            "`missing_identifier` without a click id, email or phone; `missing_original_event_id`: a refund, "
            "cancellation or reversal without `conversion.original_event_id`; link and card events "
            "`not_a_conversion`",
        ),
    )

    # -- delivery ----------------------------------------------------------------------------------------------

    def default_payload(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if conversion_outcome(event) in ADJUSTED_OUTCOMES:
            return _adjustment_payload(event)
        if not is_supported_conversion(event):
            return {}  # never sent: build_requests records why
        payload: dict[str, Any] = {"conversionDateTime": _date_time(event), "orderId": str(event["id"])}
        for field in CLICK_ID_FIELDS:
            if value := click_id(event, field):
                payload[field] = value
                break
        if money := conversion_value(event):
            payload["conversionValue"] = float(money[0])
            payload["currencyCode"] = money[1]
        contacts = [
            {field: value}
            for field, contact in (("hashedEmail", "email"), ("hashedPhoneNumber", "phone"))
            if (value := customer_contact(event, contact))
        ]
        if identifiers := _hashed_identifiers(contacts):
            payload["userIdentifiers"] = identifiers
        if consent := _consent_status((event.get("consent") or {}).get("ad_user_data")):
            payload["consent"] = {"adUserData": consent}
        return payload

    def build_requests(self, items: Sequence[DeliveryItem], credentials: Mapping[str, Any], *, now: float) -> Built:
        action = f"customers/{credentials['customer_id']}/conversionActions/{credentials['conversion_action_id']}"
        adjusting = [conversion_outcome(item.event) in ADJUSTED_OUTCOMES for item in items]
        conversions = self._build_part(
            CLICK_CONVERSIONS,
            items,
            [position for position, adjustment in enumerate(adjusting) if not adjustment],
            credentials,
            lambda item: _prepare(item.payload, action, credentials.get("ad_user_data_consent")),
        )
        adjustments = self._build_part(
            ADJUSTMENTS,
            items,
            [position for position, adjustment in enumerate(adjusting) if adjustment],
            credentials,
            lambda item: _prepare_adjustment(item.payload, action),
        )
        return Built(conversions.requests + adjustments.requests, conversions.skipped | adjustments.skipped)

    def _build_part(
        self,
        upload: _Upload,
        items: Sequence[DeliveryItem],
        positions: list[int],
        credentials: Mapping[str, Any],
        prepare: Prepare,
    ) -> Built:
        """The requests of one upload method for the items at `positions` (positions kept as in `items`), each
        holding at most one row per order id (`_order_id_rounds`)."""
        built = Built()
        for round_positions in _order_id_rounds(items, positions):
            part = self._build_round(upload, items, round_positions, credentials, prepare)
            built.requests += part.requests
            built.skipped |= part.skipped
        return built

    def _build_round(
        self,
        upload: _Upload,
        items: Sequence[DeliveryItem],
        positions: list[int],
        credentials: Mapping[str, Any],
        prepare: Prepare,
    ) -> Built:
        part = build_batches(
            [items[position] for position in positions],
            platform=PLATFORM,
            prepare=prepare,
            max_batch_size=self.max_batch_size,
            outcomes=ADJUSTED_OUTCOMES if upload is ADJUSTMENTS else SUPPORTED_OUTCOMES,
            build_request=lambda payloads, indexes, test: _request(
                upload, payloads, tuple(positions[index] for index in indexes), test, credentials
            ),
        )
        return Built(part.requests, {positions[index]: outcome for index, outcome in part.skipped.items()})

    def classify(self, request: OutboundRequest, response: ProviderResponse) -> dict[int, Outcome]:
        upload = request.upload if isinstance(request, GoogleAdsRequest) else CLICK_CONVERSIONS
        # A 429's body says how long to wait (`retryDelay`), so it is read like any refusal.
        failure = None if response.status == 429 else status_line_outcome(PLATFORM, response)
        if failure is None and response.status >= 300:
            failure = _request_error(request, response)
        if failure is not None:
            if _about_the_rows(response, failure):
                failure = failure.refused_together()
            return dict.fromkeys(request.items, failure)
        body = read_json(response.body)
        status = typed(body.value, "partialFailureError", dict)
        errors = _row_errors(status, upload.row_path)
        problem = body.problem_with("partialFailureError", dict)
        if problem or (status and not errors):
            failure = invalid_response(PLATFORM, response, problem or "partialFailureError holds no error to read")
            return dict.fromkeys(request.items, failure)
        general = [error for error in errors if error.index is None]  # names no row: applies to every row
        return {
            position: _row_outcome([error for error in errors if error.index == index] + general, request, upload)
            for index, position in enumerate(request.items)
        }


def _order_id_rounds(items: Sequence[DeliveryItem], positions: list[int]) -> list[list[int]]:
    """`positions` in rounds whose items' order ids are distinct: the n-th copy of an order id goes in round n, so
    its requests follow those of the copy before it (Google processes none of the copies of an order id sent in one
    request: DUPLICATE_ORDER_ID, DUPLICATE_ADJUSTMENT_IN_REQUEST)."""
    rounds: list[list[int]] = []
    copies: dict[str, int] = {}
    for position in positions:
        order_id = items[position].payload.get("orderId")
        copy = 0
        if isinstance(order_id, str) and order_id:
            copy = copies.get(order_id, 0)
            copies[order_id] = copy + 1
        if copy == len(rounds):
            rounds.append([])
        rounds[copy].append(position)
    return rounds


def _date_time(event: Mapping[str, Any]) -> str:
    """The event time as Google's `yyyy-mm-dd hh:mm:ss+00:00` (UTC)."""
    return occurred_at(event).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def _adjustment_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ConversionAdjustment undoing the sale a refund, cancellation or reversal names (all or part of it)."""
    conversion = event.get("conversion") or {}
    payload: dict[str, Any] = {"adjustmentDateTime": _date_time(event), "adjustmentType": "RETRACTION"}
    if original := conversion.get("original_event_id"):
        payload["orderId"] = str(original)
    if (remaining := _remaining_value(event)) is not None:
        payload["adjustmentType"] = "RESTATEMENT"
        payload["restatementValue"] = {"adjustedValue": remaining}
        if isinstance(currency := conversion.get("currency"), str) and currency:
            payload["restatementValue"]["currencyCode"] = currency.strip().upper()
    return payload


def _remaining_value(event: Mapping[str, Any]) -> float | None:
    """What a partial refund or reversal leaves of the sale (`original_value` − `value`); None when it undoes all
    of it or the event does not say how much the sale was worth."""
    if conversion_outcome(event) not in PARTIAL_OUTCOMES:
        return None
    conversion = event.get("conversion") or {}
    value, original = conversion.get("value"), conversion.get("original_value")
    if _is_amount(value) and _is_amount(original) and value < original:
        return float(Decimal(str(original)) - Decimal(str(value)))  # decimal: 100 - 20.1 must restate to 79.9
    return None


def _is_amount(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _consent_status(value: object) -> str | None:
    """Google's ConsentStatus for a consent choice (`granted` / `denied`, any case), None for anything else."""
    return value.upper() if isinstance(value, str) and value.lower() in CONSENT_STATES else None


def _consent(value: object, default: object) -> dict[str, str] | Outcome:
    """The conversion's `consent` (the payload's own choices, else the destination default for adUserData).

    A value Google cannot parse would make it refuse the whole request, so such a conversion fails alone."""
    given = value if isinstance(value, Mapping) else {} if value is None else None
    if given is not None:
        given = {field: choice for field, choice in given.items() if field not in NOT_FOR_CLICK_CONVERSIONS}
    if given is None or not set(given) <= set(CONSENT_FIELDS):
        return Outcome.permanent("invalid_consent", f"consent must be an object with only {', '.join(CONSENT_FIELDS)}")
    consent: dict[str, str] = {}
    for field, choice in given.items():
        if (status := _consent_status(choice)) is None:
            return Outcome.permanent("invalid_consent", f"consent.{field} must be GRANTED or DENIED")
        consent[field] = status
    if "adUserData" not in consent and (status := _consent_status(default)):
        consent["adUserData"] = status
    return consent


def _prepare(payload: Mapping[str, Any], action: str, default_consent: object) -> dict[str, Any] | Outcome:
    conversion = {key: value for key, value in payload.items() if key not in CLICK_ID_FIELDS}
    conversion["conversionAction"] = action
    consent = _consent(conversion.pop("consent", None), default_consent)
    if isinstance(consent, Outcome):
        return consent
    if consent:
        conversion["consent"] = consent
    if click := next(((field, payload[field]) for field in CLICK_ID_FIELDS if payload.get(field)), None):
        conversion[click[0]] = click[1]
    conversion.pop("userIdentifiers", None)
    if identifiers := _hashed_identifiers(payload.get("userIdentifiers")):
        conversion["userIdentifiers"] = identifiers
    if not click and not identifiers:
        return missing_identifier(PLATFORM, "a gclid, gbraid or wbraid on the click, or the customer's email or phone")
    return conversion


def _prepare_adjustment(payload: Mapping[str, Any], action: str) -> dict[str, Any] | Outcome:
    adjustment = dict(payload)
    adjustment["conversionAction"] = action
    if not adjustment.get("orderId"):
        return Outcome.skipped(
            "missing_original_event_id",
            "Google Ads adjusts the sale a refund, cancellation or reversal undoes by the sale's order id: "
            "the event needs conversion.original_event_id",
        )
    if adjustment.get("adjustmentType") == "RETRACTION":
        adjustment.pop("restatementValue", None)  # Google refuses a value on a retraction
    return adjustment


def _hashed_identifiers(entries: object) -> list[dict[str, Any]]:
    """Email and phone identifiers, hashed per Google's rules, distinct, at most MAX_USER_IDENTIFIERS."""
    result: list[dict[str, Any]] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        for field, normalize in HASHED_IDENTIFIERS.items():
            if digest := hashed(entry.get(field), normalize):
                identifier = {field: digest}
                if source := entry.get("userIdentifierSource"):
                    identifier["userIdentifierSource"] = source
                if identifier not in result:
                    result.append(identifier)
    return result[:MAX_USER_IDENTIFIERS]


def _request(
    upload: _Upload,
    payloads: list[dict[str, Any]],
    positions: tuple[int, ...],
    test: bool,
    credentials: Mapping[str, Any],
) -> OutboundRequest:
    token = credentials.get(ACCESS_TOKEN)
    if not token:
        raise ValueError("Google Ads requests need the access token that authorize() adds to the credentials")
    developer_token = str(credentials["developer_token"])
    headers = {
        "Authorization": f"Bearer {token}",
        "developer-token": developer_token,
        "Content-Type": "application/json",
    }
    if login_customer_id := credentials.get("login_customer_id"):
        headers["login-customer-id"] = str(login_customer_id)
    body = {upload.rows: payloads, "partialFailure": True, "validateOnly": test}
    return GoogleAdsRequest(
        method="POST",
        url=f"{API_BASE_URL}/{API_VERSION}/customers/{credentials['customer_id']}:{upload.method}",
        headers=headers,
        body=json_bytes(body),
        items=positions,
        secrets=(str(token), developer_token),
        note="test send: validated by Google Ads only (validateOnly), nothing was recorded" if test else None,
        upload=upload,
    )


def _row_errors(status: object, row_path: str) -> list[_RowError]:
    """The GoogleAdsFailure errors inside a google.rpc.Status (`partialFailureError` or a request `error`)."""
    errors = [
        _RowError(_error_code(error), typed(error, "message", str) or "", _row_index(error, row_path))
        for detail in typed_entries(status, "details", dict)
        for error in typed_entries(detail, "errors", dict)
    ]
    if not errors and (message := typed(status, "message", str)):
        # A failure Google did not break down per conversion: it must not pass for success.
        errors.append(_RowError("PARTIAL_FAILURE", message, None))
    return errors


def _error_code(error: Mapping[str, Any]) -> str:
    code = typed(error, "errorCode", dict)  # e.g. {"conversionUploadError": "CLICK_NOT_FOUND"}
    names = [value for value in (code or {}).values() if isinstance(value, str)]
    return names[0] if names else "UNKNOWN"  # fit to name an error class only through error_code (_row_outcome)


def _row_index(error: Mapping[str, Any], row_path: str) -> int | None:
    for element in typed_entries(typed(error, "location", dict), "fieldPathElements", dict):
        if element.get("fieldName") == row_path:
            return typed(element, "index", int)
    return None


def _row_outcome(errors: list[_RowError], request: OutboundRequest, upload: _Upload) -> Outcome:
    if not errors:
        return delivered(request)
    if all(error.code in upload.duplicates for error in errors):
        return delivered(request, upload.duplicate_note)
    message = provider_message("; ".join(error.message for error in errors if error.message), request)
    failing = [error for error in errors if error.code not in upload.duplicates]
    if retry_later := next((error for error in failing if error.code in upload.retry_later), None):
        return Outcome.retry(retry_later.code.lower(), message, upload.retry_later[retry_later.code])
    return Outcome.permanent((error_code(failing[0].code, request) or "UNKNOWN").lower(), message)


def _about_the_rows(response: ProviderResponse, failure: Outcome) -> bool:
    """Whether a whole-request refusal may be about one of its rows: an INVALID_ARGUMENT (HTTP 400) other than a retired
    API version (RequestError.UNSUPPORTED_VERSION, "This API version has been sunset"), so its rows are refused together
    (design §8.1). With partial failure on, Google reports row problems per row; this covers the rest."""
    return response.status == 400 and failure.verdict is Verdict.PERMANENT and failure.error_class not in VERSION_ERRORS


def _request_error(request: OutboundRequest, response: ProviderResponse) -> Outcome:
    """A whole-request refusal in the google.rpc.Status envelope `{"error": {code, message, status, details}}`."""
    error = typed(read_json(response.body).value, "error", dict)
    if error is None:
        return base.classify_status(response)
    status = error_code(typed(error, "status", str), request) or ""
    rows = _row_errors({"details": error.get("details")}, "")
    codes = [code for row in rows if (code := error_code(row.code, request))]
    message = provider_message(typed(error, "message", str), request)
    if UNSUPPORTED_VERSION in codes:
        return Outcome.version_retired(PLATFORM, API_VERSION, message)
    quota = next((code for code in [status, *codes] if code in QUOTA_ERROR_CODES), None)
    if quota is not None:
        wait = _retry_delay(error) or base.retry_after_seconds(response)
        return Outcome.throttle(f"google_ads_{quota.lower()}", message, wait)
    if status in TRANSIENT_STATUSES or any(code in TRANSIENT_ERROR_CODES for code in codes):
        return Outcome.retry(f"google_ads_{status.lower() or 'transient'}", message, base.retry_after_seconds(response))
    error_class = codes[0].lower() if codes else status.lower() or f"http_{response.status}"
    return Outcome.permanent(error_class, message)


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """The longest `retryDelay` of the GoogleAdsFailure's quota errors, in seconds
    (`error.details[].errors[].details.quotaErrorDetails.retryDelay`); None when none gives one."""
    delays = [
        float(match.group(0)[:-1])
        for detail in typed_entries(error, "details", dict)
        for failure in typed_entries(detail, "errors", dict)
        if (delay := typed(typed(typed(failure, "details", dict), "quotaErrorDetails", dict), "retryDelay", str))
        and (match := _DURATION.fullmatch(delay))
    ]
    return max(delays, default=None)


PROVIDER = GoogleAds()
