"""Workspace API keys: secret generation and hashing, scopes, expiry, and the one place scopes are enforced."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from nimriz_destinations.api.app import create_admin_app, create_app
from nimriz_destinations.clock import iso_utc
from nimriz_destinations.scopes import ALL_SCOPES, canonical_scopes, scopes_from_context, scopes_to_context
from nimriz_destinations.service.api_keys import new_secret
from nimriz_destinations.settings import InvalidSettings
from nimriz_destinations.storage.api_keys import AuthenticatedKey, hash_api_key
from nimriz_destinations.storage.records import Workspace
from tests.local.seed import authorizer_context


class TestSecrets:
    def test_a_secret_is_nmz_and_32_random_bytes_url_safe(self) -> None:
        secret = new_secret()
        assert secret.startswith("nmz_")
        random_part = secret.removeprefix("nmz_")
        assert set(random_part) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert len(base64.urlsafe_b64decode(random_part + "=" * (-len(random_part) % 4))) == 32

    def test_secrets_do_not_repeat(self) -> None:
        assert len({new_secret() for _ in range(1000)}) == 1000

    def test_the_stored_hash_is_the_sha256_of_the_secret(self) -> None:
        secret = new_secret()
        assert hash_api_key(secret) == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in hash_api_key(secret)


class TestScopes:
    def test_the_scopes_are_the_four_of_the_contract(self) -> None:
        assert ALL_SCOPES == ("destinations:read", "destinations:write", "deliveries:replay", "interstitial:resolve")

    def test_canonical_scopes_are_unique_known_and_in_the_documented_order(self) -> None:
        given = ["interstitial:resolve", "destinations:read", "nope", "destinations:read"]
        assert canonical_scopes(given) == ["destinations:read", "interstitial:resolve"]

    def test_scopes_travel_in_the_authorizer_context_as_one_string(self) -> None:
        context = scopes_to_context(["deliveries:replay", "destinations:read"])
        assert context == "destinations:read deliveries:replay"
        assert scopes_from_context(context) == {"destinations:read", "deliveries:replay"}
        assert scopes_from_context(None) == frozenset() and scopes_from_context(["destinations:read"]) == frozenset()


class TestExpiry:
    def key(self, expires_at: str | None) -> AuthenticatedKey:
        return AuthenticatedKey("k", Workspace("ws", "org"), ALL_SCOPES, expires_at, listed=True)

    def test_a_key_expires_at_its_expiry_not_before(self) -> None:
        key = self.key("2027-01-01T00:00:00.000Z")
        assert not key.expired_at("2026-12-31T23:59:59.999Z")
        assert key.expired_at("2027-01-01T00:00:00.000Z")

    def test_a_key_without_expiry_never_expires(self) -> None:
        assert not self.key(None).expired_at("9999-12-31T23:59:59.999Z")

    def test_timestamps_are_utc_with_milliseconds(self) -> None:
        moment = datetime(2027, 1, 1, 2, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
        assert iso_utc(moment) == "2027-01-01T00:00:00.123Z"


def proxy_event(authorizer: dict[str, Any] | None = None, identity: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "resource": "/things",
        "path": "/things",
        "httpMethod": "GET",
        "headers": None,
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/things",
            "httpMethod": "GET",
            "stage": "local",
            "requestId": "r-1",
            "identity": identity or {"sourceIp": "127.0.0.1"},
            **({"authorizer": authorizer} if authorizer else {}),
        },
        "body": None,
        "isBase64Encoded": False,
    }


def workspace_app(scope: Any) -> Any:
    app = create_app(scope)

    @app.get("/things")
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def admin_app() -> Any:
    app = create_admin_app()

    @app.get("/things")
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    return app


class TestScopeEnforcement:
    def test_a_key_with_the_routes_scope_passes(self) -> None:
        context = authorizer_context(scopes=("destinations:read",))
        assert workspace_app("destinations:read").resolve(proxy_event(context), None)["statusCode"] == 200

    def test_a_key_without_it_gets_403_insufficient_scope(self) -> None:
        context = authorizer_context(scopes=("destinations:read", "deliveries:replay"))
        response = workspace_app("destinations:write").resolve(proxy_event(context), None)
        assert response["statusCode"] == 403
        error = json.loads(response["body"])["error"]
        assert error["code"] == "INSUFFICIENT_SCOPE"
        assert error["support_reference"] == "r-1" and error["details"] == []

    def test_a_context_without_scopes_grants_none(self) -> None:
        context = {"workspace_id": "ws_dev", "organization_id": "org_dev", "principalId": "ws_dev"}
        assert workspace_app("destinations:read").resolve(proxy_event(context), None)["statusCode"] == 403

    def test_no_authorizer_context_is_401(self) -> None:
        response = workspace_app("destinations:read").resolve(proxy_event(), None)
        assert response["statusCode"] == 401
        assert json.loads(response["body"])["error"]["code"] == "UNAUTHORIZED"

    def test_the_scope_is_checked_before_the_body(self) -> None:
        event = {**proxy_event(authorizer_context(scopes=("destinations:read",))), "httpMethod": "POST"}
        event["body"], event["headers"] = "{not json", {"content-type": "text/plain"}
        assert workspace_app("destinations:write").resolve(event, None)["statusCode"] == 403


class TestAdminAccess:
    @pytest.fixture(autouse=True)
    def operator_id_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # An admin route needs the key of the admins' opaque ids (template: the stack's id), checked as it is built.
        monkeypatch.setenv("OPERATOR_ID_KEY", "stack-id")

    def test_an_admin_route_without_the_operator_id_key_does_not_load(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("OPERATOR_ID_KEY")
        with pytest.raises(InvalidSettings, match="OPERATOR_ID_KEY is not set"):
            admin_app()

    def test_an_iam_signed_caller_passes(self) -> None:
        identity = {"userArn": "arn:aws:iam::123456789012:user/platform", "sourceIp": "10.0.0.1"}
        assert admin_app().resolve(proxy_event(identity=identity), None)["statusCode"] == 200

    @pytest.mark.parametrize(
        ("authorizer", "identity"),
        [
            (None, None),  # not signed: the route was reachable without AWS_IAM
            (authorizer_context(), None),  # a workspace key
            (authorizer_context(), {"userArn": "arn:aws:iam::123456789012:user/platform"}),
        ],
    )
    def test_anything_else_is_403(self, authorizer: dict[str, Any] | None, identity: dict[str, str] | None) -> None:
        response = admin_app().resolve(proxy_event(authorizer, identity), None)
        assert response["statusCode"] == 403
        assert json.loads(response["body"])["error"]["code"] == "FORBIDDEN"
