"""What every API model shares: the base classes, the common field types and the error body."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from ..ids import ID_PATTERN
from ..text import SINGLE_LINE_TEXT

ActionType = Literal["send_event", "send_conversion", "send_webhook", "interstitial_settings"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), SINGLE_LINE_TEXT]


# An id in a request body, in the lower case the API answers with (ids.py): pydantic checks a pattern before any
# `to_lower`, so ids in other cases are refused either way.
Uuid = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class ApiModel(BaseModel):
    # Validators are built at a model's first use, not at import: each function uses a few of these models.
    model_config = ConfigDict(defer_build=True)


class RequestBody(ApiModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(ApiModel):
    path: str
    reason: str


class ErrorBody(ApiModel):
    code: str
    message: str
    support_reference: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(ApiModel):
    error: ErrorBody


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _rfc3339_text(value: Any) -> Any:
    # Pydantic alone would also take numbers (Unix time) and dates without an offset.
    if not isinstance(value, str) or not _RFC3339.match(value.upper()):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2027-01-31T12:00:00Z")
    return value.upper()


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339_text), WithJsonSchema({"type": "string", "format": "date-time"})]
