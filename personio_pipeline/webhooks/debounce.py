"""When a company's pending employee events become a sync run: after a quiet spell with no new
event, or at the latest a fixed time after the first one (so a steady trickle cannot postpone the
sync forever). Apideck polls Personio and emits a change's events together, so a short quiet
spell catches a whole burst in one run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from personio_pipeline.common import settings


@dataclass(frozen=True)
class Debounce:
    quiet_seconds: float = settings.DEFAULT_DEBOUNCE_QUIET_SECONDS
    max_wait_seconds: float = settings.DEFAULT_DEBOUNCE_MAX_WAIT_SECONDS

    @classmethod
    def from_settings(cls) -> "Debounce":
        """`WEBHOOK_DEBOUNCE_QUIET_SECONDS` / `WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS`, read at each tick."""
        return cls(*settings.webhook_debounce_seconds())

    def due(self, first_received_at: datetime, last_received_at: datetime, now: datetime) -> bool:
        quiet_for = now - last_received_at
        waiting_for = now - first_received_at
        return quiet_for >= timedelta(seconds=self.quiet_seconds) or waiting_for >= timedelta(seconds=self.max_wait_seconds)

    def seconds_left(self, first_received_at: datetime, last_received_at: datetime, now: datetime) -> float:
        until_quiet = (last_received_at + timedelta(seconds=self.quiet_seconds) - now).total_seconds()
        until_limit = (first_received_at + timedelta(seconds=self.max_wait_seconds) - now).total_seconds()
        return max(0.0, min(until_quiet, until_limit))
