"""The customer companies the pipeline serves: registering, listing and locking them (Teammeter's
`organisations` table, one row per company, keyed by its Apideck consumer id). The state of each
company's Personio connection is `connection_health.py`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import organisations

CONSUMER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$")


class UnknownCompanyError(LookupError):
    def __init__(self, consumer_id: str):
        super().__init__(
            f"Company '{consumer_id}' is not registered. Remedy: register it with "
            f"`personio-pipeline tenants add {consumer_id} --name NAME`."
        )


class OffboardedCompanyError(UnknownCompanyError):
    """The company was removed from the pipeline: nothing may be written for it any more."""

    def __init__(self, consumer_id: str, offboarded_at: datetime):
        LookupError.__init__(
            self,
            f"Company '{consumer_id}' was removed from the pipeline on {minute(offboarded_at)} "
            f"(`personio-pipeline tenants remove`), so it is not synced. Remedy: if it returns, register it "
            f"again with `personio-pipeline tenants add {consumer_id} --name NAME`.",
        )


@dataclass(frozen=True)
class Company:
    id: int
    consumer_id: str
    name: str
    service_id: str
    connection_state: str
    auto_sync: bool
    first_synced_at: datetime | None
    last_synced_at: datetime | None
    verified_at: datetime | None
    max_deactivation_share: float | None = None
    connection_checked_at: datetime | None = None
    connection_changed_at: datetime | None = None
    connection_alerted_state: str | None = None
    offboarded_at: datetime | None = None
    pre_start_days: int = 0
    scope: str | None = None  # JSON include lists (companies/scope.py); None: everyone
    unknown_status: str = "keep"  # what an unknown HR status does: 'keep' | 'deactivate'
    timezone: str | None = None  # IANA name (companies/clock.py); None: UTC
    sync_hour: int | None = None  # the daily sync's hour in `timezone`; None: the schedule's default

    @property
    def offboarded(self) -> bool:
        return self.offboarded_at is not None


def validate_consumer_id(consumer_id: str) -> str:
    """Consumer ids become Dagster partition keys, so `,` `|` and spaces are refused."""
    if not CONSUMER_ID_PATTERN.match(consumer_id or ""):
        raise ValueError(
            f"'{consumer_id}' is not a usable company id: use letters, digits and . _ : @ - "
            "(no spaces, commas or pipes), at most 255 characters."
        )
    return consumer_id


def register(conn: sa.Connection, consumer_id: str, name: str, service_id: str = "personio") -> Company:
    """Create the organisation, or update its name/service if it exists; returns it. A company
    removed from the pipeline comes back (its connection is checked again, its sync restarts)."""
    validate_consumer_id(consumer_id)
    existing = get(conn, consumer_id, missing_ok=True)
    if existing is None:
        conn.execute(sa.insert(organisations).values(consumer_id=consumer_id, name=name, service_id=service_id))
    elif (existing.name, existing.service_id) != (name, service_id) or existing.offboarded:
        conn.execute(
            sa.update(organisations)
            .where(organisations.c.consumer_id == consumer_id)
            .values(name=name, service_id=service_id, offboarded_at=None, connection_checked_at=None)
        )
    return get(conn, consumer_id)


def get(conn: sa.Connection, consumer_id: str, *, missing_ok: bool = False) -> Company | None:
    row = conn.execute(sa.select(organisations).where(organisations.c.consumer_id == consumer_id)).first()
    if row is None:
        if missing_ok:
            return None
        raise UnknownCompanyError(consumer_id)
    return from_row(row)


def lock(conn: sa.Connection, consumer_id: str, *, allow_offboarded: bool = False) -> Company:
    """The company, its row locked until the transaction ends so company writes never
    interleave (SELECT ... FOR UPDATE on PostgreSQL; SQLite needs a BEGIN IMMEDIATE transaction).
    A company removed from the pipeline raises OffboardedCompanyError unless `allow_offboarded`."""
    query = sa.select(organisations).where(organisations.c.consumer_id == consumer_id).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise UnknownCompanyError(consumer_id)
    company = from_row(row)
    if company.offboarded and not allow_offboarded:
        raise OffboardedCompanyError(consumer_id, company.offboarded_at)
    return company


def set_max_deactivation_share(conn: sa.Connection, consumer_id: str, share: float | None) -> None:
    """Per-company safeguard override; None returns to the default. The interface Teammeter's own
    code uses to store a company's `max_deactivation_share` (read by `safeguard.limit_for`)."""
    if share is not None and not 0 <= share <= 1:
        raise ValueError(f"max_deactivation_share must be between 0 and 1, got {share}.")
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(max_deactivation_share=share)
    )


def list_all(conn: sa.Connection) -> list[Company]:
    rows = conn.execute(sa.select(organisations).order_by(organisations.c.consumer_id))
    return [from_row(row) for row in rows]


def from_row(row: sa.Row) -> Company:
    values = {k: row._mapping[k] for k in Company.__dataclass_fields__}
    for name in ("connection_checked_at", "connection_changed_at", "offboarded_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return Company(**values)


def set_auto_sync(conn: sa.Connection, consumer_id: str, enabled: bool) -> None:
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(auto_sync=enabled)
    )


MAX_PRE_START_DAYS = 365


def set_pre_start_days(conn: sa.Connection, consumer_id: str, days: int) -> None:
    """Pre-hires of the company get access `days` before their start date (0: on the day)."""
    if not 0 <= days <= MAX_PRE_START_DAYS:
        raise ValueError(f"Company '{consumer_id}': pre-start days must be 0 to {MAX_PRE_START_DAYS}, got {days}.")
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(pre_start_days=days)
    )


def set_scope(conn: sa.Connection, consumer_id: str, stored: str | None) -> None:
    """The departments and teams the company's rollout covers (`scope.Scope.stored()`)."""
    get(conn, consumer_id)
    conn.execute(sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(scope=stored))


UNKNOWN_STATUS_POLICIES = ("keep", "deactivate")


def set_unknown_status(conn: sa.Connection, consumer_id: str, policy: str) -> None:
    """What a sync does with a person whose HR status is unknown (Apideck's `other`, missing or
    a new value): 'keep' an existing account as it is, or 'deactivate' it (see `store/statuses.py`)."""
    if policy not in UNKNOWN_STATUS_POLICIES:
        raise ValueError(f"Company '{consumer_id}': unknown-status policy must be keep or deactivate, got {policy!r}.")
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(unknown_status=policy)
    )


def set_clock(conn: sa.Connection, consumer_id: str, *, timezone: str | None = None, sync_hour: int | None = None) -> None:
    """The company's time zone (its "today" for start and end dates) and the hour of its daily
    sync in that zone; an argument left None keeps what is stored."""
    from personio_pipeline.companies import clock

    values: dict = {}
    if timezone is not None:
        values["timezone"] = clock.validate_timezone(consumer_id, timezone)
    if sync_hour is not None:
        values["sync_hour"] = clock.validate_hour(consumer_id, sync_hour)
    get(conn, consumer_id)
    if values:
        conn.execute(sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(**values))


def minute(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%MZ")
