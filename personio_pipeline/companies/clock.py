"""Each company's own clock: its time zone decides its "today" (is a start date reached, has an
employment ended?) and the hour of its daily sync.

A company without a time zone of its own lives in `DAILY_SYNC_TIMEZONE` (default Europe/Berlin) and
syncs at `DAILY_SYNC_HOUR` (default 5); `PERSONIO_PIPELINE_TODAY` pins every company's date
(tests, replaying a day). The daily schedule ticks every hour and starts a company's sync on the
first tick at or after its hour, once per day of the company's calendar.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, available_timezones

from personio_pipeline.common import settings
from personio_pipeline.common.clock import utc_now

UTC_NAME = "UTC"


def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or settings.daily_sync_timezone())


def validate_timezone(consumer_id: str, name: str) -> str:
    """The IANA name as given, or a ValueError naming the company and the remedy. Only names of
    the time zone database count (not file paths, not names with spaces around them)."""
    if name not in available_timezones() and name != UTC_NAME:
        raise ValueError(
            f"Company '{consumer_id}': {name!r} is not a time zone; give an IANA name such as Europe/Berlin "
            "or America/New_York."
        )
    return name


def validate_hour(consumer_id: str, hour: int) -> int:
    if not 0 <= hour <= 23:
        raise ValueError(f"Company '{consumer_id}': the sync hour must be 0 to 23, got {hour}.")
    return hour


def company_today(timezone_name: str | None, now: datetime | None = None) -> date:
    """The company's date: pinned by PERSONIO_PIPELINE_TODAY, else `now` (default: this
    instant) in its time zone. At 23:30 UTC a Berlin company is already on the next day."""
    pinned = settings.pinned_today()
    if pinned is not None:
        return pinned
    instant = now or utc_now()
    return instant.astimezone(zone(timezone_name)).date()


def due_day(timezone_name: str | None, sync_hour: int | None, instant: datetime) -> date | None:
    """The company's date when its daily sync is due at `instant` (an aware datetime): its wall
    clock has reached its sync hour that day; None before. A tick missed (the daemon was down)
    is caught up by the next one the same day; the run key (the date) keeps it to one run."""
    local = instant.astimezone(zone(timezone_name))
    hour = settings.daily_sync_hour() if sync_hour is None else sync_hour
    return local.date() if local.hour >= hour else None
