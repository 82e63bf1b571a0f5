"""The documented endpoints, driven through the API Gateway stand-in on moto (tables/queues from template.yaml)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimriz_destinations import aws
from nimriz_destinations.jobs import DeliveryJob
from tests.conftest import ApiClient
from tests.factories import SEED_CREATE_BODY, action_body, destination_body
from tests.local.template import LocalStack

BASE = "/api/integrations/destinations"


def create(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(BASE, body)
    assert response.status == 201, response.text
    destination: dict[str, Any] = response.json()["destination"]
    return destination


def count_calls(client: Any) -> dict[str, int]:
    counts: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        counts[operation] = counts.get(operation, 0) + 1

    client.meta.events.register("before-call.*.*", count)
    return counts


def deliveries_messages(aws_stack: LocalStack) -> list[dict[str, Any]]:
    response = aws.sqs().receive_message(
        QueueUrl=aws_stack.queue_urls["DeliveriesQueue"], MaxNumberOfMessages=10, WaitTimeSeconds=0
    )
    return [json.loads(message["Body"]) for message in response.get("Messages", [])]


class TestCreate:
    def test_seed_body_creates_destination_with_ids_timestamps_and_redacted_credentials(self, api: ApiClient) -> None:
        response = api.post(BASE, SEED_CREATE_BODY)

        assert response.status == 201
        destination = response.json()["destination"]
        assert len(destination["id"]) == 36
        assert destination["name"] == "Segment events"
        assert destination["type"] == "segment"
        assert destination["enabled"] is True
        assert destination["credentials"] == {"write_key": "…", "region": "us"}
        assert destination["created_at"].endswith("Z") and destination["updated_at"] == destination["created_at"]
        (action,) = destination["actions"]
        assert len(action["id"]) == 36
        assert action["event_filter"]["include"]["event_types"] == ["link.clicked", "link.qr_scanned"]
        assert action["event_filter"]["exclude"]["bot_traffic"] is True
        assert response.header("ETag") == '"v1"'

    def test_a_linkedin_destination_without_a_refresh_token_is_warned_that_its_token_expires(
        self, api: ApiClient
    ) -> None:
        (warning,) = create(api, destination_body("linkedin"))["warnings"]
        assert "60 days" in warning and "refresh_token" in warning

    def test_a_linkedin_destination_with_a_refresh_token_has_no_warning_and_hides_its_secrets(
        self, api: ApiClient
    ) -> None:
        credentials = {
            "refresh_token": "AQW-SeCrEt-refresh-token-5c1d",
            "client_id": "86abc123linkedin",
            "client_secret": "WPL_AP1.SeCrEt-client-9e2f",
            "conversion_rule_id": "104",
        }
        destination = create(api, destination_body("linkedin", credentials=credentials))
        assert destination["warnings"] == []
        assert destination["credentials"] == {
            "refresh_token": "…5c1d",
            "client_id": "86abc123linkedin",
            "client_secret": "…9e2f",
            "conversion_rule_id": "104",
        }

    def test_long_secret_shows_only_last_four_characters(self, api: ApiClient) -> None:
        body = destination_body("segment", credentials={"write_key": "seg_live_0123456789abcdef_f3a1"})
        destination = create(api, body)
        assert destination["credentials"]["write_key"] == "…f3a1"

    def test_credentials_are_stored_in_secrets_manager_and_table_holds_only_arn(
        self, api: ApiClient, aws: LocalStack
    ) -> None:
        destination = create(api, destination_body("ga4"))
        item = aws_item(aws, "ws_dev", destination["id"])
        doc = json.loads(item["doc"]["S"])
        assert "SeCrEt" not in item["doc"]["S"]
        secret = json.loads(aws_secret(doc["secret_arn"], doc["secret_version"]))
        assert secret["api_secret"].startswith("SeCrEt")

    def test_webhook_signing_secret_is_generated_and_shown_once(self, api: ApiClient) -> None:
        body = destination_body("generic_http")
        del body["credentials"]["signing_secret"]
        destination = create(api, body)
        secret = destination["credentials"]["signing_secret"]
        assert secret.startswith("whsec_") and len(secret) > 30
        fetched = api.get(f"{BASE}/{destination['id']}").json()["destination"]
        assert fetched["credentials"]["signing_secret"] == f"…{secret[-4:]}"

    @pytest.mark.parametrize(
        "destination_type",
        ["segment", "ga4", "amplitude", "posthog", "mixpanel", "gtm_server_side", "meta", "google_ads", "linkedin",
         "tiktok", "generic_http", "ad_pixel_interstitial"],
    )  # fmt: skip
    def test_every_destination_type_is_accepted_with_its_credentials(
        self, api: ApiClient, destination_type: str
    ) -> None:
        destination = create(api, destination_body(destination_type))
        assert destination["type"] == destination_type


class TestValidation:
    def errors(self, api: ApiClient, body: Any, **kwargs: Any) -> tuple[int, dict[str, str]]:
        response = api.post(BASE, body, **kwargs)
        error = response.json()["error"]
        assert error["support_reference"]
        return response.status, {detail["path"]: detail["reason"] for detail in error["details"]}

    def test_unknown_field_gives_422_with_its_path(self, api: ApiClient) -> None:
        status, details = self.errors(api, {**SEED_CREATE_BODY, "colour": "blue"})
        assert status == 422
        assert details == {"colour": "unknown field"}

    def test_one_detail_per_problem(self, api: ApiClient) -> None:
        body = destination_body("segment")
        body["actions"][0]["enabled"] = "maybe"
        body["actions"][0]["action_type"] = "send_fax"
        body["name"] = ""
        status, details = self.errors(api, body)
        assert status == 422
        assert set(details) == {"name", "actions[0].enabled", "actions[0].action_type"}

    def test_action_type_not_supported_by_destination_type(self, api: ApiClient) -> None:
        body = destination_body("segment", actions=[action_body("send_conversion")])
        status, details = self.errors(api, body)
        assert status == 422
        assert "support only: send_event" in details["actions[0].action_type"]

    def test_missing_and_unknown_credential_fields(self, api: ApiClient) -> None:
        body = destination_body("ga4", credentials={"measurement_id": "G-ABC123", "api_key": "x"})
        status, details = self.errors(api, body)
        assert status == 422
        assert details == {"credentials.api_secret": "field required", "credentials.api_key": "unknown field"}

    def test_missing_credentials(self, api: ApiClient) -> None:
        body = destination_body("meta")
        del body["credentials"]
        assert self.errors(api, body) == (422, {"credentials": "field required"})

    def test_linkedin_needs_an_access_token_or_a_complete_refresh_token(self, api: ApiClient) -> None:
        status, details = self.errors(api, destination_body("linkedin", credentials={"conversion_rule_id": "104"}))
        assert status == 422
        assert "access_token, or a refresh_token" in details["credentials"]
        partial = {"conversion_rule_id": "104", "refresh_token": "AQW-refresh-token-xyz0"}
        status, details = self.errors(api, destination_body("linkedin", credentials=partial))
        assert (status, "go together" in details["credentials"]) == (422, True)

    def test_conversion_filter_that_can_never_match_a_conversion(self, api: ApiClient) -> None:
        action = action_body("send_conversion", event_filter={"include": {"event_types": ["link.clicked"]}})
        status, details = self.errors(api, destination_body("meta", actions=[action]))
        assert status == 422
        assert "never match a conversion" in details["actions[0].event_filter"]

    def test_invalid_filter_condition_and_mapping_paths(self, api: ApiClient) -> None:
        action = action_body(
            "send_event",
            event_filter={"conditions": [{"field": "link.nope", "operator": "eq", "value": "x"}]},
            property_mapping={"base": "default", "overrides": [{"type": "include", "field": "context.nope"}]},
        )
        status, details = self.errors(api, destination_body("segment", actions=[action]))
        assert status == 422
        assert any(path.startswith("actions[0].event_filter.conditions[0]") for path in details)
        assert any(path.startswith("actions[0].property_mapping.overrides[0]") for path in details)

    def test_mapping_with_too_much_fixed_output_is_refused_at_its_path(self, api: ApiClient) -> None:
        statics = [{"type": "static", "to": f"s{n}", "value": "v" * 4000} for n in range(5)]
        action = action_body("send_event", property_mapping={"base": "default", "overrides": statics})
        status, details = self.errors(api, destination_body("segment", actions=[action_body("send_event"), action]))
        assert status == 422
        assert list(details) == ["actions[1].property_mapping.overrides"]
        assert "at most 16384 bytes" in details["actions[1].property_mapping.overrides"]

    def test_webhook_url_must_be_https_and_public(self, api: ApiClient) -> None:
        for url in ("http://hooks.example.com/x", "https://169.254.169.254/latest", "https://10.0.0.5/hook"):
            body = destination_body("generic_http")
            body["credentials"]["url"] = url
            status, details = self.errors(api, body)
            assert status == 422, url
            assert "credentials.url" in details

    def test_body_that_is_not_json_gives_400(self, api: ApiClient) -> None:
        response = api.post(BASE, raw=b"{not json")
        assert response.status == 400
        assert response.json()["error"]["code"] == "INVALID_JSON"

    def test_body_that_is_not_declared_json_gives_415(self, api: ApiClient) -> None:
        response = api.post(BASE, raw=b"name=x", headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status == 415

    def test_body_over_the_size_limit_gives_413(self, api: ApiClient) -> None:
        body = {**SEED_CREATE_BODY, "name": "x" * (300 * 1024)}
        assert api.post(BASE, body).status == 413

    @pytest.mark.parametrize(
        "body",
        [[], "string", 42, None, {"actions": None}, {"name": {"a": 1}, "type": [], "actions": [1, 2]},
         {**SEED_CREATE_BODY, "actions": [{"name": "x", "action_type": "send_event", "event_filter": []}]},
         {**SEED_CREATE_BODY, "credentials": "seg_..."}],
    )  # fmt: skip
    def test_bad_input_never_gives_500(self, api: ApiClient, body: Any) -> None:
        response = api.post(BASE, raw=json.dumps(body).encode())
        assert 400 <= response.status < 500, response.text


class TestAuth:
    def test_missing_key_gives_401_with_error_body(self, api: ApiClient) -> None:
        response = api.get(BASE, key=None)
        assert response.status == 401
        assert response.json()["error"]["code"] == "UNAUTHORIZED"

    def test_invalid_key_gives_401(self, api: ApiClient) -> None:
        assert api.get(BASE, key="nim_wrong").status == 401

    def test_x_nim_api_key_header_authenticates(self, api: ApiClient) -> None:
        from tests.conftest import DEV_KEY

        response = api.get(BASE, key=None, headers={"x-nim-api-key": DEV_KEY})
        assert response.status == 200

    def test_other_workspace_destination_is_404(self, api: ApiClient, other_api: ApiClient) -> None:
        destination = create(api, SEED_CREATE_BODY)
        url = f"{BASE}/{destination['id']}"
        assert other_api.get(url).status == 404
        assert other_api.put(url, {"name": "stolen", "actions": SEED_CREATE_BODY["actions"]}).status == 404
        assert other_api.delete(url).status == 404
        assert other_api.post(f"{url}/test-send", {}).status == 404
        assert api.get(url).status == 200


class TestList:
    def test_list_is_scoped_to_the_workspace_and_redacted(self, api: ApiClient, other_api: ApiClient) -> None:
        mine = create(api, destination_body("segment"))
        create(other_api, destination_body("ga4"))
        destinations = api.get(BASE).json()["destinations"]
        assert [d["id"] for d in destinations] == [mine["id"]]
        assert "SeCrEt" not in json.dumps(destinations)

    def test_list_is_one_query_per_page_and_never_reads_secrets(self, api: ApiClient) -> None:
        for _ in range(3):
            create(api, destination_body("segment"))
        ddb_calls, secret_calls = count_calls(aws.dynamodb()), count_calls(aws.secretsmanager())
        response = api.get(BASE)
        assert len(response.json()["destinations"]) == 3
        assert ddb_calls == {"Query": 1}
        assert secret_calls == {}

    def test_pagination_with_limit_and_cursor_visits_every_destination_once(self, api: ApiClient) -> None:
        created = {create(api, destination_body("segment", name=f"d{i}"))["id"] for i in range(7)}
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            url = f"{BASE}?limit=3" + (f"&cursor={cursor}" if cursor else "")
            page = api.get(url).json()
            seen += [d["id"] for d in page["destinations"]]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(created)
        assert pages == 3

    def test_tampered_cursor_gives_400(self, api: ApiClient) -> None:
        response = api.get(f"{BASE}?cursor=eyJwayI6IldTI3dzX290aGVyIiwic2siOiJERVNUI3gifQ")
        assert response.status == 400
        assert response.json()["error"]["code"] == "INVALID_CURSOR"

    def test_limit_out_of_range_gives_422(self, api: ApiClient) -> None:
        assert api.get(f"{BASE}?limit=1000").status == 422


class TestIds:
    def test_a_destination_id_in_upper_case_reads_and_deletes_the_same_destination(self, api: ApiClient) -> None:
        destination = create(api, SEED_CREATE_BODY)
        shouted = destination["id"].upper()
        assert shouted != destination["id"]

        read = api.get(f"{BASE}/{shouted}")
        assert read.status == 200, read.text
        assert read.json()["destination"]["id"] == destination["id"]
        assert api.delete(f"{BASE}/{shouted}").status == 204
        assert api.get(f"{BASE}/{destination['id']}").status == 404


class TestUpdate:
    def test_put_keeps_action_ids_sent_back_and_assigns_new_ones(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        kept = destination["actions"][0]
        body = {
            "name": "renamed",
            "actions": [{**action_body("send_event"), "id": kept["id"], "name": "kept"}, action_body("send_event")],
        }
        response = api.put(f"{BASE}/{destination['id']}", body)
        assert response.status == 200, response.text
        updated = response.json()["destination"]
        assert updated["name"] == "renamed"
        assert updated["actions"][0]["id"] == kept["id"]
        assert updated["actions"][0]["created_at"] == kept["created_at"]
        assert updated["actions"][1]["id"] not in (kept["id"], None)
        assert updated["version"] == 2
        assert response.header("ETag") == '"v2"'

    def test_put_replaces_the_action_list(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment", actions=[action_body("send_event")] * 3))
        body = {"name": "one", "actions": [action_body("send_event")]}
        updated = api.put(f"{BASE}/{destination['id']}", body).json()["destination"]
        assert len(updated["actions"]) == 1

    def test_put_without_credentials_keeps_the_stored_ones(self, api: ApiClient, aws: LocalStack) -> None:
        destination = create(api, destination_body("ga4"))
        api.put(f"{BASE}/{destination['id']}", {"name": "x", "actions": [action_body("send_event")]})
        doc = json.loads(aws_item(aws, "ws_dev", destination["id"])["doc"]["S"])
        assert json.loads(aws_secret(doc["secret_arn"], doc["secret_version"]))["api_secret"].startswith("SeCrEt")

    def test_put_with_credentials_replaces_them(self, api: ApiClient, aws: LocalStack) -> None:
        destination = create(api, destination_body("segment"))
        body = {
            "name": "x",
            "credentials": {"write_key": "new_write_key_value_9999"},
            "actions": [action_body("send_event")],
        }
        updated = api.put(f"{BASE}/{destination['id']}", body).json()["destination"]
        assert updated["credentials"]["write_key"] == "…9999"
        doc = json.loads(aws_item(aws, "ws_dev", destination["id"])["doc"]["S"])
        assert (
            json.loads(aws_secret(doc["secret_arn"], doc["secret_version"]))["write_key"] == "new_write_key_value_9999"
        )

    def test_put_with_unknown_action_id_gives_422(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        body = {"name": "x", "actions": [{**action_body("send_event"), "id": "00000000-0000-4000-8000-000000000000"}]}
        response = api.put(f"{BASE}/{destination['id']}", body)
        assert response.status == 422
        assert response.json()["error"]["details"][0]["path"] == "actions[0].id"

    def test_stale_if_match_gives_412_and_current_one_succeeds(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        url = f"{BASE}/{destination['id']}"
        body = {"name": "x", "actions": [action_body("send_event")]}
        assert api.put(url, body, headers={"if-match": '"v1"'}).status == 200
        stale = api.put(url, body, headers={"if-match": '"v1"'})
        assert stale.status == 412
        assert stale.json()["error"]["code"] == "PRECONDITION_FAILED"
        assert api.put(url, body, headers={"if-match": '"v2"'}).status == 200

    def test_type_cannot_change(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        response = api.put(
            f"{BASE}/{destination['id']}", {"name": "x", "type": "ga4", "actions": [action_body("send_event")]}
        )
        assert response.status == 422
        assert response.json()["error"]["details"][0]["path"] == "type"


class TestDelete:
    def test_delete_removes_destination_and_secret_and_everything_answers_404_after(
        self, api: ApiClient, aws: LocalStack
    ) -> None:
        destination = create(api, destination_body("segment"))
        url = f"{BASE}/{destination['id']}"
        doc = json.loads(aws_item(aws, "ws_dev", destination["id"])["doc"]["S"])

        assert api.delete(url).status == 204

        assert api.get(url).status == 404
        assert api.put(url, {"name": "x", "actions": [action_body("send_event")]}).status == 404
        assert api.delete(url).status == 404
        assert api.post(f"{url}/test-send", {}).status == 404
        client = aws_module_secrets()
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.describe_secret(SecretId=doc["secret_arn"])


class TestTestSend:
    def test_queues_one_complete_job_for_the_first_enabled_action(self, api: ApiClient, aws: LocalStack) -> None:
        actions = [action_body("send_event", enabled=False, name="off"), action_body("send_event", name="on")]
        destination = create(api, destination_body("segment", actions=actions))

        response = api.post(f"{BASE}/{destination['id']}/test-send")

        assert response.status == 202, response.text
        delivery = response.json()["delivery"]
        (message,) = deliveries_messages(aws)
        job = DeliveryJob.model_validate(message)
        assert job.delivery_id == delivery["id"]
        assert job.action_id == destination["actions"][1]["id"] == delivery["action_id"]
        assert job.reason == "test"
        assert job.event["type"] == "link.clicked" and job.event["workspace_id"] == "ws_dev"

    def test_named_action_is_used_even_when_disabled(self, api: ApiClient, aws: LocalStack) -> None:
        destination = create(api, destination_body("segment", actions=[action_body("send_event", enabled=False)]))
        action_id = destination["actions"][0]["id"]
        response = api.post(f"{BASE}/{destination['id']}/test-send", {"action_id": action_id})
        assert response.status == 202
        assert DeliveryJob.model_validate(deliveries_messages(aws)[0]).action_id == action_id

    def test_conversion_action_gets_a_conversion_sample(self, api: ApiClient, aws: LocalStack) -> None:
        destination = create(api, destination_body("meta"))
        assert api.post(f"{BASE}/{destination['id']}/test-send", {}).status == 202
        assert deliveries_messages(aws)[0]["event"]["type"].startswith("conversion.")

    def test_no_enabled_action_gives_409(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment", actions=[action_body("send_event", enabled=False)]))
        response = api.post(f"{BASE}/{destination['id']}/test-send", {})
        assert response.status == 409
        assert response.json()["error"]["code"] == "NO_ENABLED_ACTION"

    def test_interstitial_action_gives_409(self, api: ApiClient) -> None:
        destination = create(api, destination_body("ad_pixel_interstitial"))
        response = api.post(f"{BASE}/{destination['id']}/test-send", {})
        assert response.status == 409
        assert response.json()["error"]["code"] == "ACTION_HAS_NO_DELIVERY"

    def test_unknown_action_gives_404(self, api: ApiClient) -> None:
        destination = create(api, destination_body("segment"))
        body = {"action_id": "00000000-0000-4000-8000-000000000000"}
        response = api.post(f"{BASE}/{destination['id']}/test-send", body)
        assert response.status == 404
        assert response.json()["error"]["code"] == "ACTION_NOT_FOUND"


def aws_item(stack: LocalStack, workspace_id: str, destination_id: str) -> dict[str, Any]:
    return aws.dynamodb().get_item(
        TableName=stack.tables["DestinationsTable"],
        Key={"PK": {"S": f"WS#{workspace_id}"}, "SK": {"S": f"DEST#{destination_id}"}},
    )["Item"]


def aws_secret(arn: str, version: str) -> str:
    return aws.secretsmanager().get_secret_value(SecretId=arn, VersionId=version)["SecretString"]


def aws_module_secrets() -> Any:
    return aws.secretsmanager()


class TestConcurrentUpdates:
    def test_a_write_based_on_a_stale_version_is_refused_by_the_conditional_put(
        self, api: ApiClient, aws: LocalStack
    ) -> None:
        from nimriz_destinations.errors import ConcurrentModification
        from nimriz_destinations.storage.destinations import DestinationStore

        destination = create(api, destination_body("segment"))
        store = DestinationStore(aws.tables["DestinationsTable"])
        first, second = store.get("ws_dev", destination["id"]), store.get("ws_dev", destination["id"])
        assert first is not None and second is not None
        first.name, first.version = "first writer", 2
        store.replace(first, expected_version=1)
        second.name, second.version = "second writer", 2
        with pytest.raises(ConcurrentModification):
            store.replace(second, expected_version=1)
        stored = store.get("ws_dev", destination["id"])
        assert stored is not None and stored.name == "first writer" and stored.version == 2
