"""The provider interface: one module per destination type implements it.

A provider declares its credential schema (secret fields marked with `Secret`) and the action types
it supports; the delivery side builds requests from mapped payloads and classifies responses.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class _SecretMarker:
    """Metadata marker: the annotated credential field is secret (Secrets Manager only, redacted in output)."""

    def __repr__(self) -> str:
        return "Secret"


SECRET = _SecretMarker()

SecretStr = Annotated[str, StringConstraints(min_length=1, max_length=4096, strip_whitespace=True), SECRET]
PlainStr = Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]


class Credentials(BaseModel):
    """Base of every provider's credential model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        return frozenset(name for name, info in cls.model_fields.items() if _is_secret(info.annotation, info.metadata))


def _is_secret(annotation: Any, metadata: list[Any]) -> bool:
    # `SecretStr | None` keeps the marker inside the union member's Annotated metadata, not on the field.
    if SECRET in metadata:
        return True
    if get_origin(annotation) is Annotated:
        return SECRET in annotation.__metadata__
    return any(_is_secret(argument, []) for argument in get_args(annotation))


class NoCredentials(Credentials):
    """For destination types that hold no credentials."""


class Provider:
    """What every destination type module defines (as a subclass instance named `PROVIDER`)."""

    destination_type: ClassVar[str]
    action_types: ClassVar[frozenset[str]]
    credentials_model: ClassVar[type[Credentials]] = NoCredentials
    # Customer-supplied URL fields of the credentials that must pass the SSRF guard.
    url_fields: ClassVar[tuple[str, ...]] = ()

    def generated_credentials(self, supplied: dict[str, Any]) -> dict[str, Any]:
        """Values the service generates when the customer omits them (e.g. a webhook signing secret)."""
        return {}


HttpsUrl = Annotated[str, StringConstraints(min_length=8, max_length=2048, strip_whitespace=True), Field()]
