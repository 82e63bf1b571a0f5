"""API keys, quotas, limits and audit entries -> response models."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from ...models.workspaces import (
    ApiKeyCreatedResponse,
    ApiKeyOut,
    AuditEntryOut,
    LimitsOut,
    LimitsResponse,
    QuotasOut,
    QuotasResponse,
)

if TYPE_CHECKING:  # each function presents one of these: a handler imports none of their modules to present one
    from ...limits import Limits
    from ...quotas import Quotas
    from ...service.api_keys import IssuedKey
    from ...storage.api_keys import ApiKeyRecord
    from ...storage.audit import AuditEntry


def present_api_key(key: ApiKeyRecord) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        label=key.label,
        scopes=list(key.scopes),  # type: ignore[arg-type]  # stored scopes are canonical (scopes.canonical_scopes)
        prefix=key.prefix,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
    )


def present_issued_key(issued: IssuedKey) -> ApiKeyCreatedResponse:
    return ApiKeyCreatedResponse(api_key=present_api_key(issued.key), secret=issued.secret)


def present_quotas(quotas: Quotas) -> QuotasResponse:
    return QuotasResponse(quotas=QuotasOut(**quotas.as_dict()))


def present_limits(limits: Limits) -> LimitsResponse:
    return LimitsResponse(limits=LimitsOut(**limits.as_dict()))


def present_audit_entry(entry: AuditEntry) -> AuditEntryOut:
    fields = asdict(entry)
    del fields["workspace_id"]  # the caller's own workspace
    return AuditEntryOut.model_validate(fields)
