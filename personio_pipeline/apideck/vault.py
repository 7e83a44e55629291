"""Apideck Vault: the secure connection link for a customer's admin, and the connection state.

Only `callable` with `enabled: true` can be synced (see shared/apideck/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from personio_pipeline.apideck.http import ApideckClient

SESSION_LENGTH = "1h"


@dataclass(frozen=True)
class ConnectionLink:
    session_uri: str
    expires_at: datetime


@dataclass(frozen=True)
class ConnectionStatus:
    state: str            # available | added | authorized | callable | invalid (or unknown)
    enabled: bool
    health: str | None

    @property
    def syncable(self) -> bool:
        return self.state == "callable" and self.enabled


def session_length_delta(length: str) -> timedelta:
    """Vault's session length ('30m', '1h', '7d', '1w') as a timedelta."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = length[:-1], length[-1:]
    if unit not in units or not number.isdigit():
        raise ValueError(f"unreadable session length {length!r}; use e.g. 30m, 1h, 7d")
    return timedelta(**{units[unit]: int(number)})


class ApideckVaultClient(ApideckClient):
    """Creates connection links and reads connection state for a company (consumer)."""

    def create_connection_link(
        self,
        consumer_id: str,
        company_name: str,
        *,
        service_id: str = "personio",
        session_length: str = SESSION_LENGTH,
        redirect_uri: str | None = None,
    ) -> ConnectionLink:
        """A Vault session limited to the HRIS API, for the customer's admin to connect Personio."""
        body: dict[str, Any] = {
            "consumer_metadata": {"account_name": company_name},
            "settings": {"unified_apis": ["hris"], "session_length": session_length, "hide_resource_settings": True},
        }
        if redirect_uri:
            body["redirect_uri"] = redirect_uri
        started = datetime.now(timezone.utc)
        response = self._api.request_json(
            "POST", "/vault/sessions", consumer_id, json=body,
            valid=lambda b: isinstance(b, dict) and isinstance((b.get("data") or {}).get("session_uri"), str),
            what="a Vault connection link",
        )
        return ConnectionLink(response["data"]["session_uri"], started + session_length_delta(session_length))

    def connection_status(self, consumer_id: str, service_id: str = "personio") -> ConnectionStatus:
        response = self._api.request_json(
            "GET", f"/vault/connections/hris/{service_id}", consumer_id,
            valid=lambda b: isinstance(b, dict) and isinstance(b.get("data"), dict),
            what="the Vault connection state",
        )
        data = response["data"]
        return ConnectionStatus(
            state=str(data.get("state") or "unknown"),
            enabled=bool(data.get("enabled")),
            health=data.get("health"),
        )
