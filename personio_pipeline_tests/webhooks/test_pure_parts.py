"""The pure parts: signature, payload parsing, the debounce rule, and the inbox store's batch
semantics (duplicates inside one batch and across batches) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from personio_pipeline.store.schema import webhook_events
from personio_pipeline.webhooks import inbox
from personio_pipeline.webhooks.debounce import Debounce
from personio_pipeline.webhooks.events import InvalidEvent, connection_state, parse_event
from personio_pipeline.webhooks.signature import is_valid, sign
from personio_pipeline_tests.support.stores import register
from personio_pipeline_tests.support.webhook_events import employee_event, signed_request, vault_event

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
OPENSSL_BODY_K = "c6d811ef3aeb02437cd423f1abe13209041864630bdc4e2c04def5c7b0031a23"


def test_signature_is_the_hex_hmac_sha256_of_the_raw_body():
    # Reference value from openssl: printf 'body' | openssl dgst -sha256 -hmac k
    assert sign(b"body", "k") == OPENSSL_BODY_K
    import hashlib
    import hmac

    assert sign(b"body", "k") == hmac.new(b"k", b"body", hashlib.sha256).hexdigest()
    assert is_valid(b"body", "k", sign(b"body", "k"))
    assert not is_valid(b"body", "", sign(b"body", ""))
    assert not is_valid(b"body", "k", None) and not is_valid(b"body", "k", "é" * 64)


def test_parsing_takes_ids_only_and_checks_header_against_payload():
    event = employee_event("acme", "17", first_name="Zoë")
    body, headers = signed_request(event)
    parsed = parse_event(body, headers)
    assert (parsed.consumer_id, parsed.entity_id, parsed.event_type) == ("acme", "17", "hris.employee.created")
    assert parsed.occurred_at == datetime(2026, 11, 29, 9, tzinfo=timezone.utc)
    assert parsed.triggers_sync and not parsed.changes_connection
    assert "Zoë" not in repr(parsed)
    # Without the idempotency header the event id dedupes; without either it is refused.
    no_key = {k: v for k, v in headers.items() if k != "x-apideck-idempotency-key"}
    assert parse_event(body, no_key).idempotency_key == event["payload"]["event_id"]
    bare = json.dumps({"payload": {"event_type": "hris.employee.created", "consumer_id": "acme"}}).encode()
    with pytest.raises(InvalidEvent, match="x-apideck-idempotency-key is missing"):
        parse_event(bare, {})
    with pytest.raises(InvalidEvent, match="no `payload`"):
        parse_event(b'{"data": {}}', headers)
    vault = vault_event("acme", "vault.connection.updated", state="invalid")
    assert parse_event(*signed_request(vault)).consumer_id == "acme"


@pytest.mark.parametrize("event_type, entity, state", [
    ("vault.connection.revoked", {"state": "added"}, "revoked"),
    ("vault.connection.deleted", {"enabled": False}, "available"),
    ("vault.connection.disabled", {}, "disabled"),
    ("vault.connection.callable", {"state": "callable", "enabled": False}, "disabled"),
    ("vault.connection.callable", {"state": "callable", "enabled": True}, "callable"),
    ("vault.connection.updated", {"state": "invalid"}, "invalid"),
    ("vault.connection.updated", {"state": "something-new"}, None),
    ("vault.connection.token_refresh.failed", {"state": "callable"}, None),
    ("hris.employee.created", {}, None),
])
def test_the_connection_state_a_vault_event_reports(event_type, entity, state):
    assert connection_state(event_type, entity) == state


def test_debounce_waits_for_quiet_but_not_longer_than_the_maximum():
    rule = Debounce(quiet_seconds=60, max_wait_seconds=600)
    assert not rule.due(T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=60))
    assert rule.due(T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=90))
    assert rule.due(T0, T0 + timedelta(seconds=599), T0 + timedelta(seconds=600)), "the maximum wins"
    assert rule.seconds_left(T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=60)) == 30


def test_non_ascii_and_maximal_values_are_stored_as_sent(engine):
    """What parsing lets through fits the columns on PostgreSQL as on SQLite."""
    event = employee_event("Zoë-ÄÖÜ-株式会社", "é" * 255)
    body, headers = signed_request(event, idempotency_key="ß" * 255)
    parsed = parse_event(body, headers)
    with engine.begin() as conn:
        (stored,) = inbox.store(conn, [parsed], T0)
    assert stored.new and stored.reason == "unknown_company"
    with engine.connect() as conn:
        row = conn.execute(sa.select(webhook_events)).one()
    assert (row.consumer_id, row.entity_id, row.idempotency_key) == ("Zoë-ÄÖÜ-株式会社", "é" * 255, "ß" * 255)


def test_the_store_keeps_one_row_per_key_within_and_across_batches(engine):
    register(engine, "acme")
    first = parse_event(*signed_request(employee_event("acme", "1")))
    second = parse_event(*signed_request(employee_event("acme", "2")))
    stranger = parse_event(*signed_request(employee_event("stranger", "3")))
    with engine.begin() as conn:
        results = inbox.store(conn, [first, second, first, stranger], T0)
    assert [(r.new, r.status, r.reason) for r in results] == [
        (True, "pending", None), (True, "pending", None), (False, "pending", None),
        (True, "ignored", "unknown_company")]
    with engine.begin() as conn:
        again = inbox.store(conn, [stranger, first], T0 + timedelta(seconds=1))
    assert [(r.new, r.status) for r in again] == [(False, "ignored"), (False, "pending")]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_events)).scalar_one() == 3
        backlog = inbox.backlog(conn)
    assert backlog.by_status == {"pending": 2, "requested": 0, "handled": 0, "ignored": 1}
    assert backlog.pending_by_company == {"acme": 2} and backlog.oldest_pending_at == T0
