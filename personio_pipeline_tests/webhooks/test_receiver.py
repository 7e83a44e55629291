"""The receiver over real HTTP on loopback (uvicorn), storing into SQLite and PostgreSQL:
signatures, the size cap, idempotency, unknown companies, hostile input, logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import sqlalchemy as sa

from personio_pipeline.store.schema import organisations, webhook_events
from personio_pipeline.webhooks.receiver import ReceiverServer, create_app
from personio_pipeline_tests.support.settings import TEST_API_KEY
from personio_pipeline_tests.support.stores import register
from personio_pipeline_tests.support.webhook_events import employee_event, signed_request, vault_event

PATH = "/webhooks/apideck"
MAX_BODY = 4096


@pytest.fixture
def receiver(engine):
    """The receiver (uvicorn on loopback) on the test's store, with a small size cap; `.client`
    posts to it, `.engine` is the store."""
    with ReceiverServer(create_app(engine, TEST_API_KEY, max_body_bytes=MAX_BODY)) as server:
        server.engine = engine
        server.client = httpx.Client(base_url=server.url, timeout=10)
        yield server
        server.client.close()


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(webhook_events).order_by(webhook_events.c.id))]


def test_a_signed_event_is_stored_once_however_often_it_is_delivered(receiver):
    register(receiver.engine, "acme")
    event = employee_event("acme", "4711")
    body, headers = signed_request(event)
    first = receiver.client.post(PATH, content=body, headers=headers)
    assert first.status_code == 200 and first.json() == {"stored": True, "duplicate": False, "status": "pending",
                                                         "reason": None}
    # Apideck redelivers (same idempotency key, next execution attempt): stored once, still 2xx.
    again = dict(event, payload={**event["payload"], "execution_attempt": 2})
    body2, headers2 = signed_request(again)
    for _ in range(3):
        duplicate = receiver.client.post(PATH, content=body2, headers=headers2)
        assert duplicate.status_code == 200 and duplicate.json()["duplicate"] is True
    (row,) = rows(receiver.engine)
    assert (row["consumer_id"], row["event_type"], row["entity_id"], row["status"]) == (
        "acme", "hris.employee.created", "4711", "pending")
    assert row["idempotency_key"] == event["payload"]["event_id"] and row["received_at"] is not None
    assert row["occurred_at"] is not None and row["organisation_id"] is not None


def test_forged_tampered_and_unsigned_requests_are_refused_and_not_stored(receiver):
    register(receiver.engine, "acme")
    event = employee_event("acme")
    body, headers = signed_request(event, key="not-the-api-key")
    assert receiver.client.post(PATH, content=body, headers=headers).status_code == 401
    body, headers = signed_request(event)
    tampered = body.replace(b"4711", b"4712")
    assert receiver.client.post(PATH, content=tampered, headers=headers).status_code == 401
    # A value changed inside the JSON (not just its bytes) is refused however it is encoded.
    changed = {"payload": {**event["payload"], "entity_id": "4712"}}
    assert receiver.client.post(PATH, content=json.dumps(changed, indent=2).encode(), headers=headers).status_code == 401
    # The body is signed over the sorted form: a body that is not JSON cannot borrow a JSON signature.
    assert receiver.client.post(PATH, content=body + b"x", headers=headers).status_code == 401
    unsigned = {k: v for k, v in headers.items() if k != "x-apideck-signature"}
    assert receiver.client.post(PATH, content=body, headers=unsigned).status_code == 401
    assert receiver.client.post(PATH, content=body, headers={**headers, "x-apideck-signature": ""}).status_code == 401
    assert receiver.client.post(PATH, content=body, headers={**headers, "x-apideck-signature": "zz" * 32}).status_code == 401
    assert rows(receiver.engine) == []
    # Upper-case hex of the right signature is the same signature.
    upper = {**headers, "x-apideck-signature": headers["x-apideck-signature"].upper()}
    assert receiver.client.post(PATH, content=body, headers=upper).status_code == 200


def test_oversized_bodies_are_refused_before_they_are_read_or_stored(receiver):
    register(receiver.engine, "acme")
    event = employee_event("acme", padding="x" * MAX_BODY)
    body, headers = signed_request(event)
    response = receiver.client.post(PATH, content=body, headers=headers)
    assert response.status_code == 413
    # Without a Content-Length (chunked), the cap applies while streaming.
    chunked = receiver.client.post(PATH, content=iter([body[:1000], body[1000:]]), headers=headers)
    assert chunked.status_code == 413
    assert rows(receiver.engine) == []


def test_an_unknown_company_is_recorded_as_ignored_and_never_created(receiver):
    register(receiver.engine, "acme")
    body, headers = signed_request(employee_event("stranger-gmbh"))
    response = receiver.client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"stored": True, "duplicate": False, "status": "ignored", "reason": "unknown_company"}
    (row,) = rows(receiver.engine)
    assert (row["consumer_id"], row["organisation_id"], row["status"]) == ("stranger-gmbh", None, "ignored")
    with receiver.engine.connect() as conn:
        assert conn.execute(sa.select(organisations.c.consumer_id)).scalars().all() == ["acme"]


def test_vault_events_carry_the_reported_state_and_other_events_ask_nothing(receiver):
    register(receiver.engine, "acme")
    for event in (vault_event("acme", "vault.connection.revoked"),
                  vault_event("acme", "vault.connection.callable", state="callable"),
                  vault_event("acme", "vault.connection.token_refresh.failed"),
                  employee_event("acme", event_type="hris.time-off-request.created")):
        body, headers = signed_request(event)
        assert receiver.client.post(PATH, content=body, headers=headers).status_code == 200
    stored = [(r["event_type"], r["connection_state"], r["status"], r["ignored_reason"]) for r in rows(receiver.engine)]
    assert stored == [
        ("vault.connection.revoked", "revoked", "pending", None),
        ("vault.connection.callable", "callable", "pending", None),
        ("vault.connection.token_refresh.failed", None, "ignored", "no_action"),
        ("hris.time-off-request.created", None, "ignored", "no_action"),
    ]


def test_hostile_values_get_a_clear_400_on_both_databases_and_nothing_is_stored(receiver):
    register(receiver.engine, "acme")
    cases = {
        "consumer id contains control characters": employee_event("ac\x00me"),
        "payload.entity_id is longer than 255 characters": employee_event("acme", "9" * 300),
        "consumer id must be a string": employee_event("acme") | {"payload": {**employee_event("acme")["payload"],
                                                                               "consumer_id": ["acme"]}},
    }
    for problem, event in cases.items():
        body, headers = signed_request(event)
        response = receiver.client.post(PATH, content=body, headers=headers)
        assert response.status_code == 400 and response.json()["error"] == problem, response.text
    event = employee_event("acme")
    body, headers = signed_request(event, idempotency_key="k" * 256)
    assert receiver.client.post(PATH, content=body, headers=headers).status_code == 400
    body, headers = signed_request(event, body=b"\xff\xfe not json")
    assert receiver.client.post(PATH, content=body, headers=headers).json() == {"error": "the body is not JSON"}
    mismatch = {**signed_request(event)[1], "x-apideck-event-type": "hris.employee.deleted"}
    assert receiver.client.post(PATH, content=signed_request(event)[0], headers=mismatch).status_code == 400
    assert rows(receiver.engine) == []


def test_healthz_and_the_delivery_url_check(receiver):
    assert receiver.client.get("/healthz").json() == {"status": "ok"}
    from personio_pipeline.webhooks.signature import sign

    ping = receiver.client.post(PATH, content=b"{}", headers={"x-apideck-signature": sign(b"{}", TEST_API_KEY)})
    assert ping.status_code == 200 and ping.json()["stored"] is False
    assert receiver.client.post(PATH, content=b"{}", headers={"x-apideck-signature": "0" * 64}).status_code == 401
    assert rows(receiver.engine) == []


def test_logs_name_no_employee_body_or_key(receiver, caplog):
    register(receiver.engine, "acme")
    caplog.set_level(logging.DEBUG)
    for event in (employee_event("acme", "EMP-SECRET-ID"), employee_event("stranger", "EMP-SECRET-ID")):
        body, headers = signed_request(event)
        receiver.client.post(PATH, content=body, headers=headers)
        receiver.client.post(PATH, content=body + b" ", headers=headers)  # refused: logged
    text = caplog.text
    assert "hris.employee.created" in text and "stranger" in text
    assert "EMP-SECRET-ID" not in text and TEST_API_KEY not in text and "entity_url" not in text


def test_a_database_failure_answers_503_so_apideck_retries_and_the_receiver_recovers(tmp_path):
    from personio_pipeline.store.db import create_engine, migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'not-yet-migrated.sqlite'}")
    with ReceiverServer(create_app(engine, TEST_API_KEY)) as server, httpx.Client(base_url=server.url) as client:
        body, headers = signed_request(employee_event("acme"))
        failed = client.post(PATH, content=body, headers=headers)
        assert failed.status_code == 503 and "retry" in failed.json()["error"]
        assert client.get("/healthz").status_code == 200
        migrate(engine)
        register(engine, "acme")
        retried = client.post(PATH, content=body, headers=headers)  # Apideck's retry of the same event
        assert retried.status_code == 200 and retried.json()["stored"] is True
    assert len(rows(engine)) == 1
