"""The sandbox's Vault over real sockets: every answer must be one Apideck's vault.yml allows, and
the connect flow (session → added → callable) must gate the HRIS route as Apideck does."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest

from personio_pipeline.apideck.errors import ApideckRequestError
from personio_pipeline.apideck.http import RetrySettings
from personio_pipeline.apideck.vault import ApideckVaultClient
from personio_pipeline.sandbox import vault_state
from personio_pipeline.sandbox.config import SandboxConfig
from personio_pipeline.sandbox.contract import shared_contract
from personio_pipeline.sandbox.server import SandboxServer
from personio_pipeline_tests.support.sandbox import api_headers, api_headers_without, header_problems
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

CONSUMER = "acme"
HEADERS = api_headers(CONSUMER)
CONNECTION = "/vault/connections/hris/personio"
SESSION_BODY = {
    "consumer_metadata": {"account_name": "ACME GmbH"},
    "settings": {"unified_apis": ["hris"], "session_length": "1h", "hide_resource_settings": True},
}

# The suite's `sandbox` and `sandbox_http` fixtures (support/sandbox.py), configured for this module.
pytestmark = pytest.mark.sandbox(consumer=CONSUMER, default_connection_state="available")


@pytest.fixture
def vault(sandbox):
    retry = RetrySettings(max_attempts=2, base_delay_seconds=0.01, max_delay_seconds=0.05, max_total_seconds=5)
    with ApideckVaultClient(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url, retry=retry) as client:
        yield client


def checked(response: httpx.Response) -> dict:
    """The body, after checking it is what vault.yml (or hris.yml for /hris) documents for it."""
    body = response.json()
    spec = "hris.yml" if response.url.path.startswith("/hris/") else "vault.yml"
    shared_contract(spec).validate_response(response.url.path, response.request.method, response.status_code, body)
    return body


def expect_error(response: httpx.Response, status: int, type_name: str) -> dict:
    body = checked(response)
    assert (response.status_code, body["status_code"], body["type_name"]) == (status, status, type_name)
    assert body["error"] and body["message"] and body["detail"] and body["ref"].startswith("https://")
    return body


def create_session(http: httpx.Client, body: object = SESSION_BODY, **headers: str) -> httpx.Response:
    return http.post("/vault/sessions", json=body, headers=headers or None)


def connection(http: httpx.Client, path: str = CONNECTION, **headers: str) -> dict:
    return checked(http.get(path, headers=headers or None))["data"]


def employees(http: httpx.Client) -> httpx.Response:
    return http.get("/hris/employees", params={"limit": 5})


def without(header: str) -> dict:
    return api_headers_without(header, CONSUMER)


# -- sessions -------------------------------------------------------------------------------------


def test_a_session_answers_a_vault_link_with_an_unguessable_token(sandbox, sandbox_http):
    first = checked(create_session(sandbox_http))
    second = checked(create_session(sandbox_http))
    assert (first["status_code"], first["status"]) == (200, "OK")
    token = first["data"]["session_token"]
    assert first["data"]["session_uri"] == f"{sandbox.url}/vault/session/{token}"
    assert len(token) >= 40 and token != second["data"]["session_token"]


def test_a_session_body_is_optional(sandbox_http):
    assert checked(sandbox_http.post("/vault/sessions"))["data"]["session_token"]


def test_a_session_moves_an_available_connection_to_added(sandbox_http):
    assert connection(sandbox_http)["state"] == "available"
    checked(create_session(sandbox_http))
    after = connection(sandbox_http)
    assert (after["state"], after["enabled"], after["health"]) == ("added", True, "needs_auth")
    assert after["updated_at"] >= after["created_at"]


@pytest.mark.parametrize("state", ["callable", "authorized", "invalid", "revoked"])
def test_a_session_leaves_a_connection_that_was_added_before(sandbox, sandbox_http, state):
    sandbox.set_connection(CONSUMER, state)
    checked(create_session(sandbox_http))
    assert sandbox.connection(CONSUMER).state == state


def test_complete_authorisation_makes_the_connection_callable(sandbox, sandbox_http):
    checked(create_session(sandbox_http))
    sandbox.complete_authorisation(CONSUMER)
    after = connection(sandbox_http)
    assert (after["state"], after["enabled"], after["health"]) == ("callable", True, "ok")


@pytest.mark.parametrize(
    "body",
    [
        {"settings": {"unified_apis": "hris"}},
        {"settings": {"unified_apis": ["hris", 7]}},
        {"settings": ["hris"]},
        ["hris"],
    ],
)
def test_session_bodies_that_cannot_be_read_are_refused(sandbox, sandbox_http, body):
    reply = expect_error(create_session(sandbox_http, body), 400, "RequestValidationError")
    assert "settings" in reply["detail"] or "Session" in reply["detail"]
    assert sandbox.connection(CONSUMER).state == "available", "a refused session changes nothing"


def test_a_session_body_that_is_not_json_is_refused(sandbox_http):
    response = sandbox_http.post("/vault/sessions", content=b"{not json", headers={"Content-Type": "application/json"})
    expect_error(response, 400, "RequestValidationError")


# -- connections ----------------------------------------------------------------------------------


def test_the_connection_is_personio_in_hris(sandbox_http):
    data = connection(sandbox_http)
    assert {key: data[key] for key in ("id", "service_id", "name", "unified_api", "enabled")} == {
        "id": "hris+personio",
        "service_id": "personio",
        "name": "Personio",
        "unified_api": "hris",
        "enabled": True,
    }
    assert (data["state"], data["health"]) == ("available", "needs_auth")


@pytest.mark.parametrize(
    "state, enabled, reported_state, health",
    [
        ("available", True, "available", "needs_auth"),
        ("added", True, "added", "needs_auth"),
        ("authorized", True, "authorized", "needs_auth"),
        ("callable", True, "callable", "ok"),
        ("callable", False, "callable", "ok"),
        ("invalid", True, "invalid", "needs_auth"),
        ("revoked", True, "added", "revoked"),
    ],
)
def test_each_state_is_reported_as_apideck_does(sandbox, sandbox_http, state, enabled, reported_state, health):
    sandbox.set_connection(CONSUMER, state, enabled)
    data = connection(sandbox_http)
    assert (data["state"], data["enabled"], data["health"]) == (reported_state, enabled, health)


def test_states_are_kept_per_consumer(sandbox, sandbox_http):
    sandbox.complete_authorisation("other-co")
    assert connection(sandbox_http)["state"] == "available"
    assert connection(sandbox_http, **{"x-apideck-consumer-id": "other-co"})["state"] == "callable"


def test_new_consumers_are_callable_by_default():
    with SandboxServer() as sandbox, httpx.Client(base_url=sandbox.url, headers=HEADERS) as client:
        data = connection(client)
        assert (data["state"], data["health"]) == ("callable", "ok")
        checked(create_session(client))
        assert connection(client)["state"] == "callable"
        assert checked(employees(client))["data"]


@pytest.mark.parametrize(
    "path",
    ["/vault/connections/crm/personio", "/vault/connections/hris/bamboohr", "/vault/connections/hris/Personio"],
)
def test_other_connections_are_not_found(sandbox_http, path):
    body = expect_error(sandbox_http.get(path), 404, "ConnectionNotFoundError")
    assert body["message"] == "Unified API/service not found"


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/vault/sessions"),
        ("DELETE", CONNECTION),
        ("GET", "/vault/consumers"),
        ("GET", "/vault/session/some-token"),
    ],
)
def test_calls_the_sandbox_does_not_serve_are_not_found(sandbox_http, method, path):
    response = sandbox_http.request(method, path)
    assert response.status_code == 404
    shared_contract("vault.yml").validate_schema("NotFoundResponse", response.json())
    assert response.json()["type_name"] == "EntityNotFoundError"


# -- request errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, status, type_name", header_problems(CONSUMER),
)
@pytest.mark.parametrize("call", ["session", "connection"])
def test_header_problems(sandbox, headers, status, type_name, call):
    with httpx.Client(base_url=sandbox.url, headers=headers) as client:
        response = create_session(client) if call == "session" else client.get(CONNECTION)
        body = expect_error(response, status, type_name)
    assert TEST_API_KEY not in json.dumps(body)
    assert sandbox.connection(CONSUMER).state == "available", "a refused session changes nothing"


def test_the_service_header_does_not_matter_to_vault(sandbox_http):
    assert checked(create_session(sandbox_http, **{"x-apideck-service-id": "bamboohr"}))["status_code"] == 200


# -- the HRIS route follows the connection --------------------------------------------------------


def test_hris_refuses_a_consumer_until_the_admin_finishes_the_vault_flow(sandbox, sandbox_http):
    checked(create_session(sandbox_http))
    body = expect_error(employees(sandbox_http), 401, "ConnectorCredentialsError")
    assert CONSUMER in body["detail"] and "Vault" in body["detail"]
    sandbox.complete_authorisation(CONSUMER)
    assert checked(employees(sandbox_http))["data"]


@pytest.mark.parametrize(
    "state, enabled",
    [("available", True), ("added", True), ("authorized", True), ("invalid", True), ("revoked", True),
     ("callable", False)],
)
def test_hris_refuses_connections_that_are_not_callable_and_enabled(sandbox, sandbox_http, state, enabled):
    sandbox.set_connection(CONSUMER, state, enabled)
    body = expect_error(employees(sandbox_http), 401, "ConnectorCredentialsError")
    assert ("disabled" in body["detail"]) == (not enabled)


def test_hris_serves_consumers_left_at_the_default_state(sandbox_http):
    """Only states that were set (or moved by a session) gate /hris, so existing users are unaffected."""
    assert connection(sandbox_http)["state"] == "available"
    assert checked(employees(sandbox_http))["data"]


def test_refused_hris_requests_do_not_use_up_faults(sandbox, sandbox_http):
    sandbox.set_connection(CONSUMER, "invalid")
    sandbox.queue_faults([{"status": 503}])
    assert employees(sandbox_http).status_code == 401
    sandbox.complete_authorisation(CONSUMER)
    assert employees(sandbox_http).status_code == 503


# -- strict mode ----------------------------------------------------------------------------------


def test_strict_mode_refuses_to_send_an_invalid_connection(sandbox, sandbox_http, monkeypatch, caplog):
    def broken(connection: vault_state.SandboxConnection) -> dict:
        return {"id": "hris+personio", "state": "connected", "health": connection.health}

    monkeypatch.setattr(vault_state.SandboxConnection, "resource", broken)
    with caplog.at_level(logging.ERROR):
        body = expect_error(sandbox_http.get(CONNECTION), 500, "SandboxContractViolation")
    assert "connected" in body["detail"]
    assert any("breaks vault.yml" in message for message in caplog.messages)


# -- controls -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state, enabled", [("connected", True), ("callable", "yes"), (None, True)])
def test_unknown_states_are_refused_up_front(sandbox, state, enabled):
    with pytest.raises(ValueError):
        sandbox.set_connection(CONSUMER, state, enabled)


def test_the_default_state_is_checked():
    with pytest.raises(ValueError):
        SandboxConfig(default_connection_state="connected")


def test_reset_forgets_connection_states(sandbox, sandbox_http):
    sandbox.complete_authorisation(CONSUMER)
    sandbox.reset()
    assert connection(sandbox_http)["state"] == "available"
    assert checked(employees(sandbox_http))["data"], "back at the default state, which does not gate /hris"


def test_request_log_records_vault_calls_but_never_credentials(sandbox, sandbox_http):
    create_session(sandbox_http)
    sandbox_http.get(CONNECTION)
    with httpx.Client(base_url=sandbox.url, headers=without("x-apideck-consumer-id")) as client:
        client.get(CONNECTION)
    assert sandbox.request_log == [
        {"method": "POST", "path": "/vault/sessions", "query": {}, "consumer_id": CONSUMER, "status": 200},
        {"method": "GET", "path": CONNECTION, "query": {}, "consumer_id": CONSUMER, "status": 200},
        {"method": "GET", "path": CONNECTION, "query": {}, "consumer_id": None, "status": 400},
    ]
    assert TEST_API_KEY not in json.dumps(sandbox.request_log)


def test_connection_controls_over_http(sandbox):
    consumer = "acme co/2"
    headers = {**HEADERS, "x-apideck-consumer-id": consumer}
    with httpx.Client(base_url=f"{sandbox.url}/_sandbox") as control, httpx.Client(
        base_url=sandbox.url, headers=headers
    ) as client:
        path = f"/connections/{quote(consumer, safe='')}"
        answer = control.put(path, json={"state": "revoked", "enabled": True})
        assert answer.json() == {"consumer_id": consumer, "state": "revoked", "enabled": True, "health": "revoked"}
        assert expect_error(employees(client), 401, "ConnectorCredentialsError")
        assert control.put(path, json={"state": "callable"}).json()["enabled"] is True
        assert checked(employees(client))["data"]
        assert control.put(path, json={"state": "callable", "enabled": False}).json()["enabled"] is False
        assert connection(client)["enabled"] is False
        assert control.put(path, json={"state": "connected"}).status_code == 400
        assert control.put(path, json={"state": "callable", "enabled": "no"}).status_code == 400
        assert control.put(path, json={"enabled": True}).status_code == 400
        assert all(entry["path"].startswith(("/hris/", "/vault/")) for entry in sandbox.request_log)


# -- the Vault client against the sandbox ---------------------------------------------------------


def test_client_creates_a_connection_link_valid_for_an_hour(sandbox, vault):
    before = datetime.now(timezone.utc)
    link = vault.create_connection_link(CONSUMER, "ACME GmbH", redirect_uri="https://teammeter.example/connected")
    after = datetime.now(timezone.utc)
    assert link.session_uri.startswith(f"{sandbox.url}/vault/session/")
    assert before + timedelta(hours=1) <= link.expires_at <= after + timedelta(hours=1)
    assert sandbox.connection(CONSUMER).state == "added"


def test_client_passes_the_session_length(vault):
    before = datetime.now(timezone.utc)
    link = vault.create_connection_link(CONSUMER, "ACME GmbH", session_length="30m")
    assert timedelta(minutes=29) < link.expires_at - before <= timedelta(minutes=31)


def test_client_follows_the_connect_flow(sandbox, vault):
    status = vault.connection_status(CONSUMER)
    assert (status.state, status.enabled, status.health, status.syncable) == ("available", True, "needs_auth", False)
    vault.create_connection_link(CONSUMER, "ACME GmbH")
    assert vault.connection_status(CONSUMER).state == "added" and not vault.connection_status(CONSUMER).syncable
    sandbox.complete_authorisation(CONSUMER)
    status = vault.connection_status(CONSUMER)
    assert (status.state, status.health, status.syncable) == ("callable", "ok", True)


@pytest.mark.parametrize(
    "state, enabled, reported_state, health",
    [
        ("callable", False, "callable", "ok"),
        ("invalid", True, "invalid", "needs_auth"),
        ("revoked", True, "added", "revoked"),
        ("authorized", True, "authorized", "needs_auth"),
    ],
)
def test_client_syncs_only_callable_enabled_connections(sandbox, vault, state, enabled, reported_state, health):
    sandbox.set_connection(CONSUMER, state, enabled)
    status = vault.connection_status(CONSUMER)
    assert (status.state, status.enabled, status.health, status.syncable) == (reported_state, enabled, health, False)


def test_client_reports_an_unknown_service(vault):
    with pytest.raises(ApideckRequestError) as raised:
        vault.connection_status(CONSUMER, service_id="bamboohr")
    assert (raised.value.status_code, raised.value.type_name) == (404, "ConnectionNotFoundError")


def test_client_reports_a_wrong_key(sandbox):
    with ApideckVaultClient(api_key="wrong", app_id=TEST_APP_ID, base_url=sandbox.url) as client:
        with pytest.raises(ApideckRequestError) as raised:
            client.create_connection_link(CONSUMER, "ACME GmbH")
    assert (raised.value.status_code, raised.value.type_name) == (401, "UnauthorizedError")
    assert "wrong" not in str(raised.value)
