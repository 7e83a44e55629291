"""When a company's pending employee events become a sync run: after a quiet spell with no new
event, or at the latest a fixed time after the first one (so a steady trickle cannot postpone the
sync forever). Apideck polls Personio and emits a change's events together, so a short quiet
spell catches a whole burst in one run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

QUIET_ENV, MAX_WAIT_ENV = "WEBHOOK_DEBOUNCE_QUIET_SECONDS", "WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS"


@dataclass(frozen=True)
class Debounce:
    quiet_seconds: float = 60.0
    max_wait_seconds: float = 600.0

    @classmethod
    def from_env(cls) -> "Debounce":
        """`WEBHOOK_DEBOUNCE_QUIET_SECONDS` / `WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS`, read at each tick."""
        quiet = float(os.environ.get(QUIET_ENV) or cls.quiet_seconds)
        max_wait = float(os.environ.get(MAX_WAIT_ENV) or cls.max_wait_seconds)
        if quiet < 0 or max_wait < quiet:
            raise ValueError(f"{QUIET_ENV}={quiet} and {MAX_WAIT_ENV}={max_wait}: need 0 <= quiet <= max wait")
        return cls(quiet, max_wait)

    def due(self, first_received_at: datetime, last_received_at: datetime, now: datetime) -> bool:
        quiet_for = now - last_received_at
        waiting_for = now - first_received_at
        return quiet_for >= timedelta(seconds=self.quiet_seconds) or waiting_for >= timedelta(seconds=self.max_wait_seconds)

    def seconds_left(self, first_received_at: datetime, last_received_at: datetime, now: datetime) -> float:
        until_quiet = (last_received_at + timedelta(seconds=self.quiet_seconds) - now).total_seconds()
        until_limit = (first_received_at + timedelta(seconds=self.max_wait_seconds) - now).total_seconds()
        return max(0.0, min(until_quiet, until_limit))
