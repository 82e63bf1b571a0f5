"""Generic HTTP: signed webhooks to any customer endpoint (design §8, fixed envelope and headers)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from .base import SECRET, Credentials, HttpsUrl, Provider, SecretStr

# Headers we set ourselves (or that transport owns); a customer header must not override them.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "user-agent"}
)
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
HeaderValue = Annotated[str, StringConstraints(max_length=4096, pattern=r"^[^\r\n\x00]*$")]


class GenericHttpCredentials(Credentials):
    url: HttpsUrl
    method: Literal["POST", "PUT"] = "POST"
    headers: Annotated[dict[HeaderName, HeaderValue], Field(max_length=20), SECRET] = Field(default_factory=dict)
    signing_secret: SecretStr | None = None

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in headers if name.lower() in _RESERVED_HEADERS or name.lower().startswith("x-nim-"))
        if bad:
            raise ValueError(f"these headers are set by Nimriz and cannot be overridden: {', '.join(bad)}")
        return headers


class GenericHttp(Provider):
    destination_type = "generic_http"
    action_types = frozenset({"send_webhook"})
    credentials_model = GenericHttpCredentials
    url_fields = ("url",)

    def generated_credentials(self, supplied: dict[str, Any]) -> dict[str, Any]:
        if supplied.get("signing_secret"):
            return {}
        return {"signing_secret": "whsec_" + secrets.token_urlsafe(32)}


PROVIDER = GenericHttp()
