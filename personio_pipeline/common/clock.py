"""The one clock of the project: aware UTC now. Code that stores or compares times takes `now` as a
parameter where tests need to pin it and calls `utc_now()` otherwise."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
