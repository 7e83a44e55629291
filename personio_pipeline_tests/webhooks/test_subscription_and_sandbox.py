"""`webhooks register` / `webhooks status` against the sandbox's Webhook API (strict: every
response validated against webhook.yml), and the sandbox's signed events on a churn day."""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa
from click.testing import CliRunner

from personio_pipeline import cli
from personio_pipeline.sandbox.generator import generate_company
from personio_pipeline.sandbox.webhooks import employee_changes
from personio_pipeline.store.db import migrated_engine
from personio_pipeline.store.schema import webhook_events
from personio_pipeline.webhooks.events import SUBSCRIBED_EVENTS
from personio_pipeline.webhooks.receiver import ReceiverServer, create_app
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID


def run(*args: str):
    result = CliRunner().invoke(cli.main, list(args))
    return result


def test_register_creates_once_then_is_unchanged_then_updates(pipeline_env, sandbox, monkeypatch):
    engine = migrated_engine(f"sqlite:///{pipeline_env / 'teammeter.sqlite'}")
    with ReceiverServer(create_app(engine, TEST_API_KEY)) as receiver:
        url = f"{receiver.url}/webhooks/apideck"
        first = run("webhooks", "register", url)
        assert first.exit_code == 0, first.output
        assert " created: " in first.output and "(enabled; 10 event types)" in first.output
        second = run("webhooks", "register", url)
        assert second.exit_code == 0 and " unchanged: " in second.output
        other = run("webhooks", "register", url + "?v=2")
        assert other.exit_code == 0 and " updated: " in other.output
        status = run("webhooks", "status", "--format", "json")
        assert status.exit_code == 0, status.output
        report = json.loads(status.output)
        (subscription,) = report["subscriptions"]
        assert subscription["delivery_url"] == url + "?v=2" and subscription["status"] == "enabled"
        assert set(subscription["events"]) == set(SUBSCRIBED_EVENTS)
        assert report["inbox"]["by_status"] == {"pending": 0, "requested": 0, "handled": 0, "ignored": 0}
    # Apideck's check of the delivery URL fails when nothing listens: disabled, and the command says why.
    down = run("webhooks", "register", "http://127.0.0.1:9/webhooks/apideck")
    assert down.exit_code == 1 and "delivery_url_validation_failed" in down.output and "remedy" in down.output
    listed = httpx.get(f"{sandbox.url}/webhook/webhooks",
                       headers={"Authorization": f"Bearer {TEST_API_KEY}", "x-apideck-app-id": TEST_APP_ID}).json()
    assert len(listed["data"]) == 1, "one subscription, updated in place"


def test_register_refuses_a_wrong_key_with_the_remedy(pipeline_env, monkeypatch):
    monkeypatch.setenv("APIDECK_API_KEY", "wrong")
    result = run("webhooks", "register", "http://127.0.0.1:9/hook")
    assert result.exit_code == 1 and "401" in result.output and "APIDECK_API_KEY" in result.output


def test_a_churn_day_emits_one_signed_event_per_change_into_the_inbox(pipeline_env, sandbox):
    engine = migrated_engine(f"sqlite:///{pipeline_env / 'teammeter.sqlite'}")
    assert run("tenants", "add", "acme", "--name", "ACME").exit_code == 0
    with ReceiverServer(create_app(engine, TEST_API_KEY)) as receiver:
        assert run("webhooks", "register", f"{receiver.url}/webhooks/apideck").exit_code == 0
        size = sandbox.config.company_size("acme")
        expected = employee_changes(generate_company("acme", size, day=1), generate_company("acme", size, day=2))
        sandbox.config.day = 1
        response = httpx.post(f"{sandbox.url}/_sandbox/day", json={"day": 2, "companies": ["acme"]})
        assert response.json() == {"day": 2, "previous_day": 1, "events": len(expected), "delivered": len(expected)}
        assert {kind for kind, _ in expected} >= {"hris.employee.created", "hris.employee.updated"}
        # A connection change is a Vault event.
        sandbox.set_connection("acme", "revoked")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(webhook_events.c.event_type, webhook_events.c.entity_id)
                              .where(webhook_events.c.event_type.like("hris.%")).order_by(webhook_events.c.id)).all()
        revoked = conn.execute(sa.select(webhook_events.c.connection_state)
                               .where(webhook_events.c.event_type == "vault.connection.revoked")).scalar_one()
    assert [tuple(row) for row in stored] == expected and revoked == "revoked"
    assert sandbox.config.day == 2


def test_the_configured_url_receives_every_event(pipeline_env, sandbox, webhook_receiver):
    sandbox.config.webhook_url = webhook_receiver.url
    sandbox.webhooks.emit_employee_events("acme", [("hris.employee.created", "77")])
    (delivered,) = webhook_receiver.payloads
    assert delivered["payload"]["consumer_id"] == "acme" and delivered["payload"]["entity_id"] == "77"
