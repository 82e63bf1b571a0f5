"""Google Analytics 4 Measurement Protocol (https://developers.google.com/analytics/devguides/collection/protocol/ga4);
the protocol itself lives in `measurement_protocol`.

Endpoint by `region`: global → https://www.google-analytics.com, eu → https://region1.google-analytics.com (EU
processing); path `/mp/collect`, or `/debug/mp/collect` (the validation server) for test sends. `measurement_id`
and `api_secret` travel in the query string (the redactor finds the secret URL-encoded there too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .base import Credentials, SecretStr
from .measurement_protocol import COLLECT_PATH, VALIDATION_PATH, MeasurementId, MeasurementProtocol, mp_query

HOSTS: Mapping[str, str] = {"global": "https://www.google-analytics.com", "eu": "https://region1.google-analytics.com"}


class GA4Credentials(Credentials):
    measurement_id: MeasurementId
    api_secret: SecretStr
    region: Literal["global", "eu"] = "global"


class GA4(MeasurementProtocol):
    destination_type = "ga4"
    credentials_model = GA4Credentials
    validates_test_sends = True

    def collect_url(self, credentials: Mapping[str, Any], *, validate: bool) -> str:
        host = HOSTS[credentials.get("region") or "global"]
        path = VALIDATION_PATH if validate else COLLECT_PATH
        return f"{host}{path}?{mp_query(str(credentials['measurement_id']), self.api_secret(credentials))}"


PROVIDER = GA4()
