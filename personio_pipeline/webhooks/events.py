"""What a webhook request says, checked: the event's type, idempotency key, company and entity.

Apideck posts `{"payload": {...}}` (hris.yml / vault.yml `x-webhooks`) with the headers
`x-apideck-event-type`, `x-apideck-signature` and `x-apideck-idempotency-key`. HRIS events carry
`payload.consumer_id`; Vault connection events carry the connection as `payload.entity`, whose
`consumer_id`, `state` and `enabled` say which company and what became of its connection. Only
identifiers are kept, never the entity's other attributes, so the inbox holds no personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

EVENT_TYPE_HEADER = "x-apideck-event-type"
IDEMPOTENCY_HEADER = "x-apideck-idempotency-key"

# Events that mean "the company's people changed": a debounced sync follows.
EMPLOYEE_EVENTS = (
    "hris.employee.created",
    "hris.employee.updated",
    "hris.employee.terminated",
    "hris.employee.deleted",
)
# Vault events whose connection state the pipeline records at once.
CONNECTION_EVENTS = (
    "vault.connection.created",
    "vault.connection.updated",
    "vault.connection.callable",
    "vault.connection.disabled",
    "vault.connection.deleted",
    "vault.connection.revoked",
)
SUBSCRIBED_EVENTS = EMPLOYEE_EVENTS + CONNECTION_EVENTS
VAULT_STATES = ("available", "added", "authorized", "callable", "invalid")  # Apideck's ConnectionState

# Column widths of `webhook_events` (store/schema.py).
MAX_KEY, MAX_EVENT_TYPE, MAX_SERVICE_ID = 255, 64, 64


class InvalidEvent(ValueError):
    """A signed request that is not a usable event (answered 400, with this message)."""


@dataclass(frozen=True)
class WebhookEvent:
    idempotency_key: str
    event_type: str
    consumer_id: str | None
    event_id: str | None = None
    service_id: str | None = None
    entity_id: str | None = None
    connection_state: str | None = None  # vault.connection.*: the state to record, if any
    occurred_at: datetime | None = None

    @property
    def triggers_sync(self) -> bool:
        return self.event_type in EMPLOYEE_EVENTS

    @property
    def changes_connection(self) -> bool:
        return self.connection_state is not None


def parse_event(body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
    """The event in a (signature-checked) request, or `InvalidEvent` naming what is wrong."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidEvent("the body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidEvent("the body must be a JSON object with a `payload` object")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise InvalidEvent("the body has no `payload` object")
    header_type = headers.get(EVENT_TYPE_HEADER)
    payload_type = payload.get("event_type")
    if header_type and payload_type and header_type != payload_type:
        raise InvalidEvent(f"{EVENT_TYPE_HEADER} does not match payload.event_type")
    event_type = _text(header_type or payload_type, "event type", MAX_EVENT_TYPE, required=True)
    event_id = _text(payload.get("event_id"), "payload.event_id", MAX_KEY)
    # The header is required by the contract; a sender without it still dedupes on the event id.
    key = _text(headers.get(IDEMPOTENCY_HEADER) or event_id, IDEMPOTENCY_HEADER, MAX_KEY, required=True)
    entity = payload.get("entity") if isinstance(payload.get("entity"), dict) else {}
    consumer_id = _text(payload.get("consumer_id") or entity.get("consumer_id"), "consumer id", MAX_KEY)
    return WebhookEvent(
        idempotency_key=key,
        event_type=event_type,
        consumer_id=consumer_id,
        event_id=event_id,
        service_id=_text(payload.get("service_id"), "payload.service_id", MAX_SERVICE_ID),
        entity_id=_text(payload.get("entity_id"), "payload.entity_id", MAX_KEY),
        connection_state=connection_state(event_type, entity),
        occurred_at=_timestamp(payload.get("occurred_at")),
    )


def connection_state(event_type: str, entity: Mapping[str, Any]) -> str | None:
    """The connection state a Vault event reports, in the words `organisations.connection_state`
    uses (Vault's state, or `disabled` / `revoked`); None for events that report none."""
    if event_type == "vault.connection.revoked":
        return "revoked"
    if event_type == "vault.connection.deleted":
        return "available"
    if event_type == "vault.connection.disabled" or (event_type in CONNECTION_EVENTS and entity.get("enabled") is False):
        return "disabled"
    if event_type == "vault.connection.callable":
        return "callable"
    if event_type in ("vault.connection.created", "vault.connection.updated"):
        state = entity.get("state")
        return state if state in VAULT_STATES else None
    return None


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    """A short identifier: a string of printable characters within the column's width."""
    if value is None or value == "":
        if required:
            raise InvalidEvent(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string")
    if len(value) > limit:
        raise InvalidEvent(f"{name} is longer than {limit} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidEvent(f"{name} contains control characters")
    return value


def _timestamp(value: Any) -> datetime | None:
    """`occurred_at` is informative only: an unreadable one is dropped, not an error."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
