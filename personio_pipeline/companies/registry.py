"""Registering and listing customer companies (organisations) in Teammeter."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

import sqlalchemy as sa

from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import organisations, sync_runs

STATE_LIMIT = 32  # organisations.connection_state; Vault's states are shorter
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
            f"Company '{consumer_id}' was removed from the pipeline on {_minute(offboarded_at)} "
            f"(`personio-pipeline tenants remove`), so it is not synced. Remedy: if it returns, register it "
            f"again with `personio-pipeline tenants add {consumer_id} --name NAME`.",
        )


@dataclass(frozen=True)
class Organisation:
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


def register(conn: sa.Connection, consumer_id: str, name: str, service_id: str = "personio") -> Organisation:
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


def get(conn: sa.Connection, consumer_id: str, *, missing_ok: bool = False) -> Organisation | None:
    row = conn.execute(sa.select(organisations).where(organisations.c.consumer_id == consumer_id)).first()
    if row is None:
        if missing_ok:
            return None
        raise UnknownCompanyError(consumer_id)
    return _from_row(row)


def lock(conn: sa.Connection, consumer_id: str, *, allow_offboarded: bool = False) -> Organisation:
    """The organisation, its row locked until the transaction ends so company writes never
    interleave (SELECT ... FOR UPDATE on PostgreSQL; SQLite needs a BEGIN IMMEDIATE transaction).
    A company removed from the pipeline raises OffboardedCompanyError unless `allow_offboarded`."""
    query = sa.select(organisations).where(organisations.c.consumer_id == consumer_id).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise UnknownCompanyError(consumer_id)
    organisation = _from_row(row)
    if organisation.offboarded and not allow_offboarded:
        raise OffboardedCompanyError(consumer_id, organisation.offboarded_at)
    return organisation


def set_max_deactivation_share(conn: sa.Connection, consumer_id: str, share: float | None) -> None:
    """Per-company safeguard override; None returns to the default. The interface Teammeter's own
    code uses to store a company's `max_deactivation_share` (read by `safeguard.limit_for`)."""
    if share is not None and not 0 <= share <= 1:
        raise ValueError(f"max_deactivation_share must be between 0 and 1, got {share}.")
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(max_deactivation_share=share)
    )


def list_all(conn: sa.Connection) -> list[Organisation]:
    rows = conn.execute(sa.select(organisations).order_by(organisations.c.consumer_id))
    return [_from_row(row) for row in rows]


def _from_row(row: sa.Row) -> Organisation:
    values = {k: row._mapping[k] for k in Organisation.__dataclass_fields__}
    for name in ("connection_checked_at", "connection_changed_at", "offboarded_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return Organisation(**values)


# -- lifecycle: connection state, auto-sync ---------------------------------------------------

CONNECTED = "callable"
# Connections that worked or were set up and now need the customer's admin: the data team is
# alerted once per state, the daily sync skips the company until Vault reports it callable.
PROBLEM_STATES = ("invalid", "revoked", "disabled")


def set_connection_state(conn: sa.Connection, consumer_id: str, state: str, *, now: datetime | None = None) -> bool:
    """Record the Vault connection state; True when it changed. A change is stamped
    (`connection_changed_at`); becoming callable again clears the alert record, so a later
    problem is alerted afresh."""
    state = state[:STATE_LIMIT]
    values: dict = {"connection_state": state, "connection_changed_at": as_utc(now or _now())}
    if state == CONNECTED:
        values["connection_alerted_state"] = None
    result = conn.execute(
        sa.update(organisations)
        .where(organisations.c.consumer_id == consumer_id, organisations.c.connection_state != state)
        .values(**values)
    )
    return result.rowcount > 0


def record_connection_check(conn: sa.Connection, consumer_id: str, state: str, *, now: datetime | None = None) -> bool:
    """Record what Vault said about the connection just now; True when the state changed."""
    now = as_utc(now or _now())
    changed = set_connection_state(conn, consumer_id, state, now=now)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(connection_checked_at=now)
    )
    return changed


def set_auto_sync(conn: sa.Connection, consumer_id: str, enabled: bool) -> None:
    get(conn, consumer_id)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(auto_sync=enabled)
    )


def awaiting_connection(conn: sa.Connection) -> list[Organisation]:
    """Companies in the pipeline whose Personio connection is not (or no longer) usable."""
    rows = conn.execute(
        sa.select(organisations)
        .where(organisations.c.connection_state != CONNECTED, organisations.c.offboarded_at.is_(None))
        .order_by(organisations.c.consumer_id)
    )
    return [_from_row(row) for row in rows]


def due_for_connection_check(
    conn: sa.Connection, now: datetime, recheck_after: timedelta, limit: int
) -> list[Organisation]:
    """Companies whose connection Vault should be asked about now, least recently checked first:
    those not connected (every time), connected ones not checked within `recheck_after`, and
    connected ones with a failed sync since their last check (a 401 may mean revoked access)."""
    org = organisations
    failed_since_check = (
        sa.exists()
        .where(
            sync_runs.c.organisation_id == org.c.id,
            sync_runs.c.status == "failed",
            sa.or_(org.c.connection_checked_at.is_(None), sync_runs.c.finished_at > org.c.connection_checked_at),
        )
    )
    rows = conn.execute(
        sa.select(org)
        .where(
            org.c.offboarded_at.is_(None),
            sa.or_(
                org.c.connection_state != CONNECTED,
                org.c.connection_checked_at.is_(None),
                org.c.connection_checked_at < as_utc(now) - recheck_after,
                failed_since_check,
            ),
        )
        .order_by(org.c.connection_checked_at.asc().nulls_first(), org.c.consumer_id)
        .limit(limit)
    )
    return [_from_row(row) for row in rows]


def unalerted_connection_problems(conn: sa.Connection) -> list[Organisation]:
    """Companies in the pipeline whose connection needs the customer's admin (see
    `needs_reauthorisation`) and whose data team has not yet been told about that state."""
    org = organisations
    rows = conn.execute(
        sa.select(org)
        .where(
            org.c.offboarded_at.is_(None),
            org.c.connection_state != CONNECTED,
            sa.or_(org.c.connection_state.in_(PROBLEM_STATES), org.c.first_synced_at.is_not(None)),
            sa.or_(org.c.connection_alerted_state.is_(None), org.c.connection_alerted_state != org.c.connection_state),
        )
        .order_by(org.c.consumer_id)
    )
    return [_from_row(row) for row in rows]


def mark_connection_alerted(conn: sa.Connection, consumer_id: str, state: str) -> None:
    """The data team was told about `state` (nothing is marked if the state moved on meanwhile)."""
    conn.execute(
        sa.update(organisations)
        .where(organisations.c.consumer_id == consumer_id, organisations.c.connection_state == state)
        .values(connection_alerted_state=state)
    )


def needs_reauthorisation(state: str, first_synced_at: datetime | None) -> bool:
    """Invalid, revoked or disabled; or, for a company synced before, any state but callable
    (a deleted connection is `available` again, one without credentials `added`)."""
    return state != CONNECTED and (state in PROBLEM_STATES or first_synced_at is not None)


class SyncState(Protocol):
    consumer_id: str
    connection_state: str
    connection_changed_at: datetime | None
    auto_sync: bool
    first_synced_at: datetime | None
    offboarded_at: datetime | None


def daily_sync_blocker(company: SyncState) -> str | None:
    """Why the daily schedule leaves the company out (with what to do), or None when it is due:
    the one rule for the schedule, `status` and `tenants list`."""
    if company.offboarded_at is not None:
        return f"removed on {_minute(company.offboarded_at)}"
    if needs_reauthorisation(company.connection_state, company.first_synced_at):
        since = f" since {_minute(company.connection_changed_at)}" if company.connection_changed_at else ""
        return (
            f"connection {company.connection_state}{since}: the customer's admin must re-authorise Personio "
            f"(`personio-pipeline connect {company.consumer_id} --name NAME` makes a new link)"
        )
    if company.connection_state != CONNECTED:
        return f"not connected yet (Vault state {company.connection_state})"
    if not company.auto_sync:
        return f"auto-sync off (`personio-pipeline tenants auto-sync {company.consumer_id} on`)"
    if company.first_synced_at is None:
        return f"first sync not run yet (`personio-pipeline sync {company.consumer_id}`)"
    return None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _minute(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%MZ")
