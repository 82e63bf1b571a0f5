"""Mixpanel ingestion: `/import` with a service account, `/track` with the project token alone."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import StringConstraints, model_validator

from .base import Credentials, Provider, SecretStr


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


class Mixpanel(Provider):
    destination_type = "mixpanel"
    action_types = frozenset({"send_event"})
    credentials_model = MixpanelCredentials


PROVIDER = Mixpanel()
