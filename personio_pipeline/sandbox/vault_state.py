"""The sandbox's Apideck Vault: one Personio HRIS connection per consumer, and its state.

Apideck's flow is available → added (the consumer opened Vault) → callable (the admin entered
Personio's credentials); `authorized` and `invalid` are the other states Apideck reports.
`revoked` is the sandbox's name for a connection whose access was revoked: Apideck then holds
no credentials, so it reports state `added` with health `revoked`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

UNIFIED_API = "hris"
SERVICE_ID = "personio"
SERVICE_NAME = "Personio"
CONNECTION_STATES = ("available", "added", "authorized", "callable", "invalid")  # Apideck's ConnectionState
SANDBOX_STATES = (*CONNECTION_STATES, "revoked")


def check_state(state: object) -> str:
    if state not in SANDBOX_STATES:
        raise ValueError(f"connection state {state!r}: use one of {list(SANDBOX_STATES)}")
    return state  # type: ignore[return-value]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class SandboxConnection:
    """One consumer's Personio connection as the sandbox holds it."""

    consumer_id: str
    state: str  # one of SANDBOX_STATES
    enabled: bool
    explicit: bool  # set by a control or moved by a Vault session, rather than the configured default
    created_at: int  # Unix milliseconds, as Apideck sends them
    updated_at: int | None

    @property
    def callable(self) -> bool:
        """Whether Apideck would call Personio for this consumer."""
        return self.state == "callable" and self.enabled

    @property
    def health(self) -> str:
        if self.state == "callable":
            return "ok"
        return "revoked" if self.state == "revoked" else "needs_auth"

    @property
    def refusal(self) -> str:
        """Why a unified HRIS call is refused (for the 401's detail); empty when it is callable."""
        where = f"The Personio connection of consumer '{self.consumer_id}'"
        if self.callable:
            return ""
        if self.state == "callable":
            return f"{where} is disabled; enable it in Vault"
        return {
            "available": f"{where} has not been added yet; the customer's admin must connect Personio in Vault",
            "added": f"{where} is not authorized yet; the customer's admin must finish connecting Personio in Vault",
            "authorized": f"{where} is authorized but not configured; finish its settings in Vault",
            "invalid": f"{where} has invalid credentials; re-authorize it in Vault",
            "revoked": f"{where} had its access revoked; re-authorize it in Vault",
        }[self.state]

    def resource(self) -> dict[str, Any]:
        """The `Connection` object of vault.yml."""
        return {
            "id": f"{UNIFIED_API}+{SERVICE_ID}",
            "service_id": SERVICE_ID,
            "name": SERVICE_NAME,
            "unified_api": UNIFIED_API,
            "state": "added" if self.state == "revoked" else self.state,
            "integration_state": "configured",
            "status": "live",
            "enabled": self.enabled,
            "website": "https://www.personio.com",
            "health": self.health,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class VaultConnections:
    """Connection state per consumer; consumers nobody touched are at `default_state()`."""

    def __init__(self, default_state: Callable[[], str]):
        self._default_state = default_state
        self._lock = threading.Lock()
        self._set: dict[str, tuple[str, bool, int]] = {}  # consumer → state, enabled, updated_at
        self._created: dict[str, int] = {}

    def get(self, consumer_id: str) -> SandboxConnection:
        with self._lock:
            return self._get(consumer_id)

    def set(self, consumer_id: str, state: str, enabled: bool = True) -> SandboxConnection:
        check_state(state)
        if not isinstance(enabled, bool):
            raise ValueError(f"enabled must be true or false, got {enabled!r}")
        with self._lock:
            self._set[consumer_id] = (state, enabled, _now_ms())
            return self._get(consumer_id)

    def open_session(self, consumer_id: str) -> SandboxConnection:
        """A Vault session was created: the consumer adds Personio unless it is connected already."""
        with self._lock:
            current = self._get(consumer_id)
            if current.state == "available":
                self._set[consumer_id] = ("added", current.enabled, _now_ms())
            return self._get(consumer_id)

    def clear(self) -> None:
        with self._lock:
            self._set.clear()
            self._created.clear()

    def _get(self, consumer_id: str) -> SandboxConnection:
        created_at = self._created.setdefault(consumer_id, _now_ms())
        if consumer_id in self._set:
            state, enabled, updated_at = self._set[consumer_id]
            return SandboxConnection(consumer_id, state, enabled, True, created_at, updated_at)
        return SandboxConnection(consumer_id, check_state(self._default_state()), True, False, created_at, None)
