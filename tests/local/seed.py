"""Seed workspace API keys (stored hashed, with every scope) for the local stack and tests."""

from __future__ import annotations

from nimriz_destinations.scopes import ALL_SCOPES, scopes_to_context
from nimriz_destinations.service.api_keys import import_key
from nimriz_destinations.storage.api_keys import ApiKeyStore
from nimriz_destinations.storage.records import Workspace

DEV_WORKSPACE = Workspace(workspace_id="ws_dev", organization_id="org_dev")


def parse_key_pairs(spec: str) -> list[tuple[str, str]]:
    """`NIMRIZ_DEV_API_KEYS`: comma-separated `workspace_id:key` pairs."""
    pairs = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        workspace_id, separator, key = item.partition(":")
        if not separator or not workspace_id.strip() or not key.strip():
            raise ValueError(f"NIMRIZ_DEV_API_KEYS entries must be workspace_id:key, got {item!r}")
        pairs.append((workspace_id.strip(), key.strip()))
    return pairs


def seed_keys(table_name: str, dev_key: str, extra: list[tuple[str, str]]) -> None:
    store = ApiKeyStore(table_name)
    import_key(store, DEV_WORKSPACE, dev_key, label="local dev key", scopes=ALL_SCOPES)
    for workspace_id, key in extra:
        workspace = Workspace(workspace_id=workspace_id, organization_id=f"org_{workspace_id}")
        import_key(store, workspace, key, label="local key", scopes=ALL_SCOPES)


def authorizer_context(workspace: Workspace = DEV_WORKSPACE, *, scopes: tuple[str, ...] = ALL_SCOPES) -> dict[str, str]:
    """What the authorizer passes to an endpoint for a key of `workspace` (for tests that build events by hand)."""
    return {
        "workspace_id": workspace.workspace_id,
        "organization_id": workspace.organization_id,
        "api_key_id": "00000000-0000-4000-8000-000000000000",
        "scopes": scopes_to_context(scopes),
        "principalId": workspace.workspace_id,
    }


# The destination the files in events/ refer to, so `make invoke` answers like a populated workspace.
EXAMPLE_DESTINATION_ID = "3f1c2b7a-9d4e-4c1a-8f6b-2a5d7e9c0b11"
EXAMPLE_ACTION_ID = "7a9e4c1d-2b3f-4e5a-9c8d-1f0e2d3c4b5a"


def seed_example_destination(table_name: str, secret_name: str) -> None:
    from nimriz_destinations.quotas import DEFAULT_QUOTAS, usage_of, usage_of_all
    from nimriz_destinations.storage.destinations import DestinationStore
    from nimriz_destinations.storage.quotas import QuotaStore
    from nimriz_destinations.storage.records import ActionRecord, DestinationRecord
    from nimriz_destinations.storage.secrets import SecretStore

    now = "2026-11-28T12:00:00.000Z"
    secret = SecretStore().create(secret_name, {"write_key": "seg_example_write_key_0000", "region": "us"}, tags={})
    action = ActionRecord(
        id=EXAMPLE_ACTION_ID,
        name="Send event",
        action_type="send_event",
        enabled=True,
        property_mapping={"base": "default", "overrides": []},
        event_filter={
            "include": {"event_types": ["link.clicked", "link.qr_scanned"]},
            "exclude": {"bot_traffic": True},
        },
        settings=None,
        created_at=now,
        updated_at=now,
    )
    record = DestinationRecord(
        id=EXAMPLE_DESTINATION_ID,
        workspace_id=DEV_WORKSPACE.workspace_id,
        organization_id=DEV_WORKSPACE.organization_id,
        name="Segment events",
        type="segment",
        enabled=True,
        actions=[action],
        credential_hints={"write_key": "…0000", "region": "us"},
        secret_arn=secret.arn,
        secret_version=secret.version_id,
        version=1,
        created_at=now,
        updated_at=now,
    )
    # Counted in the workspace's quota usage like any destination the API creates.
    store, quotas = DestinationStore(table_name), QuotaStore(table_name)
    workspace_id = DEV_WORKSPACE.workspace_id
    quotas.start_counting(workspace_id, usage_of_all(store.list_all(workspace_id)))
    store.create(record, usage_change=quotas.usage_change(workspace_id, usage_of(record), DEFAULT_QUOTAS))
