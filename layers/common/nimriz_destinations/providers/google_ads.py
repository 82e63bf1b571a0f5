"""Google Ads click conversion upload (ConversionUploadService.UploadClickConversions)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, StringConstraints

from .base import Credentials, PlainStr, Provider, SecretStr


def _strip_dashes(value: object) -> object:
    # Customers copy ids from the Google Ads UI as 123-456-7890.
    return value.replace("-", "") if isinstance(value, str) else value


CustomerId = Annotated[str, BeforeValidator(_strip_dashes), StringConstraints(pattern=r"^[0-9]{10}$")]


class GoogleAdsCredentials(Credentials):
    customer_id: CustomerId
    conversion_action_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
    login_customer_id: CustomerId | None = None
    developer_token: SecretStr
    client_id: PlainStr
    client_secret: SecretStr
    refresh_token: SecretStr


class GoogleAds(Provider):
    destination_type = "google_ads"
    action_types = frozenset({"send_conversion"})
    credentials_model = GoogleAdsCredentials


PROVIDER = GoogleAds()
