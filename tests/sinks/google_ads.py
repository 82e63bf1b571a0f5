"""A Google Ads stand-in for click conversion uploads and conversion adjustments, with Google's OAuth token endpoint.

* POST /token: the refresh-token grant (form body). Wrong client → 401 `invalid_client`, wrong refresh token →
  400 `invalid_grant`; success → `{"access_token", "expires_in": 3599, "token_type": "Bearer", ...}`.
* POST /{version}/customers/{customer_id}:uploadClickConversions (JSON), in Google's google.rpc.Status envelopes:
  - `Authorization: Bearer <a token this sink issued>` (else 401 UNAUTHENTICATED), `developer-token` (else 401),
    `login-customer-id` equal to the manager id when the sink has one (else 403 PERMISSION_DENIED);
  - `partialFailure` must be true; 1 to 2,000 conversions (more → 400 TOO_MANY_CONVERSIONS_IN_REQUEST);
  - per conversion (errors come back in `partialFailureError` with `fieldPathElements` indexes, the row's result
    empty): `conversionAction` of this customer; `conversionDateTime` as `yyyy-mm-dd hh:mm:ss+hh:mm`; exactly one
    of gclid / gbraid / wbraid or user identifiers; a gclid made of base64url characters (else UNPARSEABLE_GCLID);
    user identifiers only `hashedEmail` / `hashedPhoneNumber` as 64-character lower-case hex, at most 5;
    `orderId` not used before (ORDER_ID_ALREADY_IN_USE) nor more than once in the request: then *every* copy is
    refused DUPLICATE_ORDER_ID and none recorded (googleads/google-ads-python `errors/types/conversion_upload_error.py`:
    "Imported events include multiple conversions with the same order ID and were not processed");
  - `consent` holds only `adUserData` / `adPersonalization` with a ConsentStatus value (GRANTED, DENIED, UNKNOWN,
    UNSPECIFIED): anything else cannot be parsed, and Google refuses the whole request (400 INVALID_ARGUMENT).
    `adPersonalization` parses but "can only be set for OfflineUserDataJobService and UserDataService" (the Consent
    reference, `common/types/consent.py`); Google documents no error code for it, so the stand-in refuses such a
    request with a plain 400 INVALID_ARGUMENT quoting that sentence;
  - `validateOnly: true` checks and records nothing, and returns no results.
* POST /{version}/customers/{customer_id}:uploadConversionAdjustments: the same auth, envelopes, partial failure and
  2,000 limit (TOO_MANY_ADJUSTMENTS_IN_REQUEST); an `adjustmentType` other than Google's enum values fails the
  whole request; per adjustment: `conversionAction` of this customer (NO_CONVERSION_ACTION_FOUND),
  `adjustmentDateTime` in Google's format, RETRACTION or RESTATEMENT; exactly one of `orderId` and
  `gclidDateTimePair`; the order id of a conversion uploaded here to the same action, not from a wbraid click
  (CONVERSION_NOT_FOUND); at most 54 days (CONVERSION_EXPIRED) old by `clock`, and at once after its upload (no
  24-hour wait since 2024-09-09: Google Ads Developer Blog, "Improvements to conversion adjustment uploads",
  2024-08-12, "they can be uploaded immediately after the original conversion has been uploaded"); not before the
  conversion (ADJUSTMENT_PRECEDES_CONVERSION); a RESTATEMENT with `restatementValue.adjustedValue`, a RETRACTION
  without `restatementValue`; not already retracted (CONVERSION_ALREADY_RETRACTED); a restatement newer than the
  last one (RESTATEMENT_ALREADY_EXISTS for the same time, MORE_RECENT_RESTATEMENT_FOUND for an older one); not
  twice in the request (same order id and `adjustmentDateTime`): every copy is refused
  DUPLICATE_ADJUSTMENT_IN_REQUEST and none made (`conversion_adjustment_upload_error.py`: "Imported adjustment has
  a duplicate conversion adjustment with same adjustment_date_time ... try again").
* A version in `retired_versions` (either method): 400 INVALID_ARGUMENT with `requestError: UNSUPPORTED_VERSION`,
  "This API version has been sunset and is no longer supported." (`errors/types/request_error.py`; the 400 as
  integrators observed it after v21's sunset, e.g. OWOX PR #1504).
* Quota exhausted (scripted: `quota_exhausted`): 429 RESOURCE_EXHAUSTED with the QuotaErrorDetails retry delay.
* Uploaded conversions land in `uploaded` (keyed by orderId), adjustments in `adjustments`;
  `revoke_access_tokens()` expires every issued token.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from tests.sinks.server import SinkRequest, SinkResponse

TOKEN_PATH = "/token"
MAX_CONVERSIONS = 2000  # per request, and so many adjustments
ADJUSTMENT_TYPES = frozenset({"UNSPECIFIED", "UNKNOWN", "ENHANCEMENT", "RESTATEMENT", "RETRACTION"})
MAX_CONVERSION_AGE = timedelta(days=54)
MAX_IDENTIFIERS = 5
CLICK_IDS = ("gclid", "gbraid", "wbraid")
_HASH = re.compile(r"[0-9a-f]{64}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}")
_GCLID = re.compile(r"[A-Za-z0-9_-]+")
CONSENT_FIELDS = {"adUserData": "ad_user_data", "adPersonalization": "ad_personalization"}  # JSON → proto names
NOT_FOR_CLICK_CONVERSIONS = "adPersonalization"
CONSENT_STATUSES = frozenset({"UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"})


def google_error(status: int, rpc_status: str, message: str, error_code: dict[str, str] | None = None) -> SinkResponse:
    """google.rpc.Status JSON, with a GoogleAdsFailure detail when an error code is given."""
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if error_code:
        error["details"] = [_failure([{"errorCode": error_code, "message": message}])]
    return SinkResponse(status, {"error": error})


def quota_exhausted(retry_delay: str, *, rate_scope: str = "DEVELOPER") -> SinkResponse:
    """A quota refusal as googleads/google-ads-python's v25 types describe it: QuotaError RESOURCE_EXHAUSTED ("Too many
    requests.", errors/types/quota_error.py) in the GoogleAdsFailure, with `details.quotaErrorDetails`
    (errors/types/errors.py, QuotaErrorDetails: `rate_scope`, and `retry_delay`, "Backoff period that customers
    should wait before sending next request", a protobuf Duration in proto3 JSON such as "60s"). No Retry-After:
    no Google source says the API sends one."""
    error = {
        "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
        "message": "Too many requests.",
        "details": {"quotaErrorDetails": {"rateScope": rate_scope, "retryDelay": retry_delay}},
    }
    body = {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}
    return SinkResponse(429, {"error": {**body, "details": [_failure([error])]}})


def _failure(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
        "errors": errors,
        "requestId": secrets.token_hex(8),
    }


def _row_error(index: int, error_code: dict[str, str], message: str, rows: str = "conversions") -> dict[str, Any]:
    return {
        "errorCode": error_code,
        "message": message,
        "location": {"fieldPathElements": [{"fieldName": rows, "index": index}]},
    }


def _date_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        return None
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S%z")


def _adjustment_error(code: str, message: str) -> tuple[dict[str, str], str]:
    return {"conversionAdjustmentUploadError": code}, message


@dataclass
class GoogleAdsSink:
    """Sink handler for one Google Ads customer, its OAuth client and developer token."""

    customer_id: str
    developer_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    version: str
    login_customer_id: str | None = None
    retired_versions: frozenset[str] = frozenset()
    clock: Callable[[], float] = time.time
    issued_tokens: set[str] = field(default_factory=set)
    uploaded: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    retracted: set[str] = field(default_factory=set)  # order ids
    restated_at: dict[str, list[datetime]] = field(default_factory=dict)  # order id -> restatement times
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self.issued_tokens.clear()

    def __call__(self, request: SinkRequest) -> SinkResponse:
        if request.method == "POST" and request.path == TOKEN_PATH:
            return self._token(request)
        if request.path.split("/")[1] in self.retired_versions:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "This API version has been sunset and is no longer supported.",
                {"requestError": "UNSUPPORTED_VERSION"},
            )
        customer = f"/{self.version}/customers/{self.customer_id}"
        if request.method == "POST" and request.path == f"{customer}:uploadClickConversions":
            return self._upload(request, adjustments=False)
        if request.method == "POST" and request.path == f"{customer}:uploadConversionAdjustments":
            return self._upload(request, adjustments=True)
        return google_error(404, "NOT_FOUND", f"The requested URL {request.path} was not found on this server.")

    # -- OAuth -------------------------------------------------------------------------------------------------

    def _token(self, request: SinkRequest) -> SinkResponse:
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return SinkResponse(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return SinkResponse(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("refresh_token") != self.refresh_token:
            return SinkResponse(400, {"error": "invalid_grant", "error_description": "Bad Request"})
        token = f"ya29.{secrets.token_urlsafe(24)}"
        with self._lock:
            self.issued_tokens.add(token)
        scope = "https://www.googleapis.com/auth/adwords"
        return SinkResponse(200, {"access_token": token, "expires_in": 3599, "scope": scope, "token_type": "Bearer"})

    # -- upload ------------------------------------------------------------------------------------------------

    def _upload(self, request: SinkRequest, *, adjustments: bool) -> SinkResponse:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        with self._lock:
            authorized = scheme == "Bearer" and token in self.issued_tokens
        if not authorized:
            return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if request.header("developer-token") != self.developer_token:
            return google_error(
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
            )
        if self.login_customer_id and request.header("login-customer-id") != self.login_customer_id:
            return google_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                {"authorizationError": "USER_PERMISSION_DENIED"},
            )
        try:
            body = json.loads(request.body)
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        rows_field = "conversionAdjustments" if adjustments else "conversions"
        rows = body.get(rows_field) if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            return google_error(400, "INVALID_ARGUMENT", f"{rows_field} is required", {"fieldError": "REQUIRED"})
        if body.get("partialFailure") is not True:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "Partial failure mode is required",
                {"partialFailureError": "PARTIAL_FAILURE_MODE_REQUIRED"},
            )
        validate_only = body.get("validateOnly") is True
        if adjustments:
            if len(rows) > MAX_CONVERSIONS:
                return google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Try uploading fewer than 2001 adjustments in a single API request.",
                    {"conversionAdjustmentUploadError": "TOO_MANY_ADJUSTMENTS_IN_REQUEST"},
                )
            if unparseable := _unparseable_adjustment_type(rows):
                return google_error(400, "INVALID_ARGUMENT", unparseable)
            return self._adjustment_rows(rows, validate_only=validate_only)
        if len(rows) > MAX_CONVERSIONS:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "Upload fewer than 2001 events in a single request.",
                {"conversionUploadError": "TOO_MANY_CONVERSIONS_IN_REQUEST"},
            )
        if unparseable := _refused_consent(rows):
            return google_error(400, "INVALID_ARGUMENT", unparseable)
        return self._rows(rows, validate_only=validate_only)

    def _rows(self, conversions: list[Any], *, validate_only: bool) -> SinkResponse:
        errors: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        repeated = _repeated(
            conversion.get("orderId") if isinstance(conversion, dict) else None for conversion in conversions
        )
        with self._lock:
            for index, conversion in enumerate(conversions):
                problem = self._row_problem(conversion, repeated)
                if problem:
                    errors.append(_row_error(index, *problem))
                    results.append({})
                    continue
                if not validate_only:
                    self.uploaded[str(conversion.get("orderId") or f"no-order-id-{len(self.uploaded)}")] = conversion
                results.append(_result(conversion))
        response: dict[str, Any] = {"jobId": str(secrets.randbelow(2**62) + 2**31)}
        if not validate_only:
            response["results"] = results
        if errors:
            summary = f"{len(errors)} conversion(s) failed; the first: {errors[0]['message']}"
            response["partialFailureError"] = {"code": 3, "message": summary, "details": [_failure(errors)]}
        return SinkResponse(200, response)

    def _row_problem(self, conversion: Any, repeated: set[Any]) -> tuple[dict[str, str], str] | None:
        if not isinstance(conversion, dict):
            return {"fieldError": "REQUIRED"}, "A conversion must be an object."
        action = str(conversion.get("conversionAction"))
        if not re.fullmatch(rf"customers/{self.customer_id}/conversionActions/[0-9]+", action):
            return {"conversionUploadError": "INVALID_CONVERSION_ACTION"}, "The conversion action is not valid."
        if not _DATE_TIME.fullmatch(str(conversion.get("conversionDateTime"))):
            return {"dateError": "INVALID_FIELD_FORMAT"}, "conversionDateTime must be yyyy-mm-dd hh:mm:ss+|-hh:mm."
        if problem := _identity_problem(conversion):
            return problem
        order_id = conversion.get("orderId")
        if isinstance(order_id, str) and order_id:
            if order_id in repeated:
                return {"conversionUploadError": "DUPLICATE_ORDER_ID"}, (
                    "Imported events include multiple conversions with the same order ID and were not processed. "
                    "Make sure order IDs are unique and try again."
                )
            if order_id in self.uploaded:
                return {"conversionUploadError": "ORDER_ID_ALREADY_IN_USE"}, "The order ID was already used."
        value = conversion.get("conversionValue")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return {"fieldError": "INVALID_VALUE"}, "conversionValue must be a number."
        return None

    # -- adjustments -------------------------------------------------------------------------------------------

    def _adjustment_rows(self, adjustments: list[Any], *, validate_only: bool) -> SinkResponse:
        errors: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        repeated = _repeated(
            (str(adjustment.get("orderId")), str(adjustment.get("adjustmentDateTime")))
            if isinstance(adjustment, dict)
            else None
            for adjustment in adjustments
        )
        with self._lock:
            for index, adjustment in enumerate(adjustments):
                problem = self._adjustment_problem(adjustment, repeated)
                if problem:
                    errors.append(_row_error(index, *problem, rows="conversion_adjustments"))
                    results.append({})
                    continue
                if not validate_only:
                    self._apply(adjustment)
                keys = ("orderId", "adjustmentType", "conversionAction", "adjustmentDateTime")
                results.append({key: adjustment[key] for key in keys})
        response: dict[str, Any] = {"jobId": str(secrets.randbelow(2**62) + 2**31)}
        if not validate_only:
            response["results"] = results
        if errors:
            summary = f"{len(errors)} adjustment(s) failed; the first: {errors[0]['message']}"
            response["partialFailureError"] = {"code": 3, "message": summary, "details": [_failure(errors)]}
        return SinkResponse(200, response)

    def _adjustment_problem(self, adjustment: Any, repeated: set[Any]) -> tuple[dict[str, str], str] | None:
        if not isinstance(adjustment, dict):
            return {"fieldError": "REQUIRED"}, "An adjustment must be an object."
        action = str(adjustment.get("conversionAction"))
        if not re.fullmatch(rf"customers/{self.customer_id}/conversionActions/[0-9]+", action):
            return _adjustment_error("NO_CONVERSION_ACTION_FOUND", "The conversion action cannot be found.")
        adjusted_at = _date_time(adjustment.get("adjustmentDateTime"))
        if adjusted_at is None:
            return {"dateError": "INVALID_FIELD_FORMAT"}, "adjustmentDateTime must be yyyy-mm-dd hh:mm:ss+|-hh:mm."
        kind = adjustment.get("adjustmentType")
        if kind == "ENHANCEMENT":
            return _adjustment_error("CONVERSION_ACTION_NOT_ELIGIBLE_FOR_ENHANCEMENT", "No enhancements here.")
        if kind not in ("RETRACTION", "RESTATEMENT"):
            return {"fieldError": "REQUIRED"}, "adjustmentType is required."
        order_id = adjustment.get("orderId")
        if order_id and adjustment.get("gclidDateTimePair"):
            return _adjustment_error("GCLID_DATE_TIME_PAIR_AND_ORDER_ID_BOTH_SET", "Set only one of them.")
        if not order_id and not adjustment.get("gclidDateTimePair"):
            return {"fieldError": "REQUIRED"}, "An orderId or a gclidDateTimePair is required."
        if problem := _restatement_problem(kind, adjustment.get("restatementValue")):
            return problem
        conversion = self.uploaded.get(str(order_id)) if order_id else None
        if conversion is None or conversion.get("wbraid") or not _same_action(conversion, action):
            return _adjustment_error("CONVERSION_NOT_FOUND", "The conversion for this identifier can't be found.")
        converted_at = _date_time(conversion["conversionDateTime"])
        assert converted_at is not None  # stored only after its format was checked
        age = datetime.fromtimestamp(self.clock(), converted_at.tzinfo) - converted_at
        if age > MAX_CONVERSION_AGE:
            return _adjustment_error("CONVERSION_EXPIRED", "The conversion occurred more than 54 days ago.")
        if adjusted_at < converted_at:
            return _adjustment_error("ADJUSTMENT_PRECEDES_CONVERSION", "The adjustment precedes the conversion.")
        if order_id in self.retracted:
            return _adjustment_error("CONVERSION_ALREADY_RETRACTED", "The conversion was already retracted.")
        if (str(order_id), adjustment["adjustmentDateTime"]) in repeated:
            return _adjustment_error(
                "DUPLICATE_ADJUSTMENT_IN_REQUEST",
                "Imported adjustment has a duplicate conversion adjustment with same adjustment_date_time. Make sure "
                "your adjustment has the correct adjustment_date_time and try again.",
            )
        restated = self.restated_at.get(str(order_id), [])
        if kind == "RESTATEMENT" and adjusted_at in restated:
            return _adjustment_error("RESTATEMENT_ALREADY_EXISTS", "A restatement with this time already exists.")
        if kind == "RESTATEMENT" and any(moment > adjusted_at for moment in restated):
            return _adjustment_error("MORE_RECENT_RESTATEMENT_FOUND", "A more recent restatement exists.")
        return None

    def _apply(self, adjustment: dict[str, Any]) -> None:
        order_id = str(adjustment["orderId"])
        self.adjustments.append(adjustment)
        if adjustment["adjustmentType"] == "RETRACTION":
            self.retracted.add(order_id)
        else:
            adjusted_at = _date_time(adjustment["adjustmentDateTime"])
            assert adjusted_at is not None
            self.restated_at.setdefault(order_id, []).append(adjusted_at)


def _repeated(keys: Iterable[Any]) -> set[Any]:
    """The keys (order ids, ...) found more than once among `keys`, None aside."""
    counts = Counter(key for key in keys if key is not None)
    return {key for key, count in counts.items() if count > 1}


def _refused_consent(conversions: list[Any]) -> str | None:
    """Why Google fails the whole request for a consent it cannot read or refuses on a click conversion, else None."""
    for index, conversion in enumerate(conversions):
        consent = conversion.get("consent") if isinstance(conversion, dict) else None
        if consent is None:
            continue
        where = f"conversions[{index}].consent"
        if not isinstance(consent, dict):
            return f"Invalid value at '{where}' (type.googleapis.com/google.ads.googleads.v26.common.Consent)"
        for name, value in consent.items():
            if name not in CONSENT_FIELDS:
                return f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
            if name == NOT_FOR_CLICK_CONVERSIONS:
                return f"{where}.ad_personalization: can only be set for OfflineUserDataJobService and UserDataService."
            if not isinstance(value, str) or value not in CONSENT_STATUSES:
                return (
                    f"Invalid value at '{where}.{CONSENT_FIELDS[name]}' "
                    f"(type.googleapis.com/google.ads.googleads.v26.enums.ConsentStatusEnum.ConsentStatus), {value!r}"
                )
    return None


def _same_action(conversion: dict[str, Any], action: str) -> bool:
    # Google identifies the action by its id alone (it ignores the customer id in the resource name).
    return str(conversion.get("conversionAction")).rsplit("/", 1)[-1] == action.rsplit("/", 1)[-1]


def _restatement_problem(kind: object, value: object) -> tuple[dict[str, str], str] | None:
    if kind == "RETRACTION":
        return ({"fieldError": "VALUE_MUST_BE_UNSET"}, "A retraction takes no restatementValue.") if value else None
    adjusted = value.get("adjustedValue") if isinstance(value, dict) else None
    if isinstance(adjusted, bool) or not isinstance(adjusted, int | float) or adjusted < 0:
        return {"fieldError": "REQUIRED"}, "A restatement needs restatementValue.adjustedValue."
    return None


def _unparseable_adjustment_type(adjustments: list[Any]) -> str | None:
    """Google's JSON parsing error for an adjustmentType outside its enum (it fails the whole request), else None."""
    for index, adjustment in enumerate(adjustments):
        kind = adjustment.get("adjustmentType", "UNSPECIFIED") if isinstance(adjustment, dict) else "UNSPECIFIED"
        if not isinstance(kind, str) or kind not in ADJUSTMENT_TYPES:
            return (
                f"Invalid value at 'conversion_adjustments[{index}].adjustment_type' (type.googleapis.com/google.ads."
                f"googleads.v26.enums.ConversionAdjustmentTypeEnum.ConversionAdjustmentType), {kind!r}"
            )
    return None


def _result(conversion: dict[str, Any]) -> dict[str, Any]:
    return {key: conversion[key] for key in (*CLICK_IDS, "conversionAction", "conversionDateTime") if key in conversion}


def _identity_problem(conversion: dict[str, Any]) -> tuple[dict[str, str], str] | None:
    clicks = [name for name in CLICK_IDS if conversion.get(name)]
    identifiers = conversion.get("userIdentifiers") or []
    if len(clicks) > 1:
        return {"conversionUploadError": "GBRAID_WBRAID_BOTH_SET"}, "Set exactly one of gclid, gbraid and wbraid."
    if not clicks and not identifiers:
        return {"fieldError": "REQUIRED"}, "A click id or a user identifier is required."
    if "gclid" in clicks and not _GCLID.fullmatch(str(conversion["gclid"])):
        return {"conversionUploadError": "UNPARSEABLE_GCLID"}, "The imported gclid could not be decoded."
    if not isinstance(identifiers, list) or len(identifiers) > MAX_IDENTIFIERS:
        return {"collectionSizeError": "TOO_MANY"}, f"At most {MAX_IDENTIFIERS} user identifiers."
    for identifier in identifiers:
        kinds = (
            [kind for kind in ("hashedEmail", "hashedPhoneNumber") if kind in identifier]
            if isinstance(identifier, dict)
            else []
        )
        if len(kinds) != 1:
            return {"conversionUploadError": "UNSUPPORTED_USER_IDENTIFIER"}, "Only hashedEmail or hashedPhoneNumber."
        if not isinstance(identifier[kinds[0]], str) or not _HASH.fullmatch(identifier[kinds[0]]):
            return {"conversionUploadError": "INVALID_USER_IDENTIFIER"}, f"{kinds[0]} must be a SHA-256 hex digest."
    return None
