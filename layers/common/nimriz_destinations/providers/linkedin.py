"""LinkedIn Conversions API."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from .base import Credentials, Provider, SecretStr


class LinkedInCredentials(Credentials):
    access_token: SecretStr
    conversion_rule_id: Annotated[
        str, StringConstraints(pattern=r"^([0-9]{1,20}|urn:lla:llaPartnerConversion:[0-9]{1,20})$")
    ]


class LinkedIn(Provider):
    destination_type = "linkedin"
    action_types = frozenset({"send_conversion"})
    credentials_model = LinkedInCredentials


PROVIDER = LinkedIn()
