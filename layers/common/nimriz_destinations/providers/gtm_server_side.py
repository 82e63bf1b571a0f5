"""Google Tag Manager server-side container (https://developers.google.com/tag-platform/tag-manager/server-side):
GA4 Measurement Protocol posted to the container.

`POST {container_url}/mp/collect?measurement_id=…[&api_secret=…]` with the GA4 MP JSON body (see
`measurement_protocol`); the container's client claiming that path (the built-in GA4 client, or a Measurement
Protocol client template) decides what happens next. A container path prefix is kept
(`https://sgtm.example.com/t` → `/t/mp/collect`). Containers have no validation server, so test sends are ordinary
sends, and a validate-mode test-send sends nothing (`no_validation_channel`): a container runs its clients and tags
on every request it receives. Its Preview mode is a debugger, not a validator: a request carrying a preview session's
`X-Gtm-Server-Preview` header ("Send requests manually" in the Preview window gives it) shows in the Preview window
while the container processes it, tags included (Simo Ahava, "Preview server-side Google Tag Manager", gtmtips 132;
Snowplow, "Debugging Google Tag Manager Server Side Tags": events go "to the Preview Mode, instead of the production
tags", i.e. the workspace's tags, which still send). Google documents no validation endpoint of a container, nor that
GA4's validation server speaks for a container's clients (they decide what a request means), so it is not used in
its place. Responses: 2xx delivered; 400/404 (no client claimed the request, wrong path) and other 4xx permanent;
408, 429 and 5xx retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator

from .analytics import base_url
from .base import Credentials, HttpsUrl, SecretStr
from .measurement_protocol import COLLECT_PATH, MeasurementId, MeasurementProtocol, mp_query


class GTMServerSideCredentials(Credentials):
    container_url: Annotated[HttpsUrl, AfterValidator(base_url)]
    measurement_id: MeasurementId
    api_secret: SecretStr | None = None


class GTMServerSide(MeasurementProtocol):
    destination_type = "gtm_server_side"
    credentials_model = GTMServerSideCredentials
    url_fields = ("container_url",)
    no_validation_channel = (
        "has no validation channel: a server container runs its tags on every request it receives (its Preview mode "
        "shows a request but still processes it), so nothing was sent; the request shown is what the container "
        "would receive"
    )

    def collect_url(self, credentials: Mapping[str, Any], *, validate: bool) -> str:
        container = str(credentials["container_url"]).rstrip("/")
        return f"{container}{COLLECT_PATH}?{mp_query(str(credentials['measurement_id']), self.api_secret(credentials))}"


PROVIDER = GTMServerSide()
