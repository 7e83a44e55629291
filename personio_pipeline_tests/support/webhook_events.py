"""Apideck webhook events for tests: employee and Vault connection events as Apideck sends them,
and deliveries signed the way Apideck signs them (the receiver under test is
personio_pipeline.webhooks.receiver)."""

from __future__ import annotations

import uuid

from personio_pipeline.sandbox.webhooks import delivery_body
from personio_pipeline.webhooks.signature import sign, sign_event
from personio_pipeline_tests.support.settings import TEST_API_KEY

def employee_event(consumer_id: str, entity_id: str = "4711", event_type: str = "hris.employee.created",
                   **extra) -> dict:
    return {"payload": {
        "event_type": event_type, "unified_api": "hris", "service_id": "personio", "consumer_id": consumer_id,
        "event_id": str(uuid.uuid4()), "entity_id": entity_id, "entity_type": "employee",
        "entity_url": f"https://unify.apideck.com/hris/employees/{entity_id}",
        "occurred_at": "2026-11-29T09:00:00.000Z", **extra,
    }}


def vault_event(consumer_id: str, event_type: str, state: str = "added", enabled: bool = True) -> dict:
    return {"payload": {
        "event_id": str(uuid.uuid4()), "event_type": event_type, "service_id": "apideck-vault",
        "entity_id": f"hris+personio+{consumer_id}", "entity_type": "Connection",
        "entity": {"id": "hris+personio", "consumer_id": consumer_id, "unified_api": "hris",
                   "service_id": "personio", "state": state, "enabled": enabled},
        "occurred_at": "2026-11-29T09:00:00.000Z",
    }}


def signed_request(event: dict, *, key: str = TEST_API_KEY, idempotency_key: str | None = None,
                   body: bytes | None = None, signature: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A delivery as Apideck makes it: the body not in canonical form (delivery key order, spaces),
    signed over the canonical form. A given `body` (e.g. not JSON) is signed over its raw bytes."""
    if signature is None:
        signature = sign(body, key) if body is not None else sign_event(event, key)
    body = body if body is not None else delivery_body(event)
    headers = {
        "content-type": "application/json",
        "x-apideck-event-type": event["payload"]["event_type"],
        "x-apideck-idempotency-key": idempotency_key or event["payload"]["event_id"],
        "x-apideck-signature": signature,
    }
    return body, headers
