"""The health of each company's Personio connection as Apideck Vault reports it: the recorded
state, when it was last checked and changed, which problem the data team was told about, and the
one rule that says whether the daily sync takes a company (`daily_sync_blocker`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from personio_pipeline.common.clock import utc_now
from personio_pipeline.companies.registry import Company, from_row, minute
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import organisations, sync_runs

STATE_LIMIT = 32  # organisations.connection_state; Vault's states are shorter
CONNECTED = "callable"
# Connections that worked or were set up and now need the customer's admin: the data team is
# alerted once per state, the daily sync skips the company until Vault reports it callable.
PROBLEM_STATES = ("invalid", "revoked", "disabled")


def set_connection_state(conn: sa.Connection, consumer_id: str, state: str, *, now: datetime | None = None) -> bool:
    """Record the Vault connection state; True when it changed. A change is stamped
    (`connection_changed_at`); becoming callable again clears the alert record, so a later
    problem is alerted afresh."""
    state = state[:STATE_LIMIT]
    values: dict = {"connection_state": state, "connection_changed_at": as_utc(now or utc_now())}
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
    now = as_utc(now or utc_now())
    changed = set_connection_state(conn, consumer_id, state, now=now)
    conn.execute(
        sa.update(organisations).where(organisations.c.consumer_id == consumer_id).values(connection_checked_at=now)
    )
    return changed


def awaiting_connection(conn: sa.Connection) -> list[Company]:
    """Companies in the pipeline whose Personio connection is not (or no longer) usable."""
    rows = conn.execute(
        sa.select(organisations)
        .where(organisations.c.connection_state != CONNECTED, organisations.c.offboarded_at.is_(None))
        .order_by(organisations.c.consumer_id)
    )
    return [from_row(row) for row in rows]


def due_for_connection_check(
    conn: sa.Connection, now: datetime, recheck_after: timedelta, limit: int
) -> list[Company]:
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
    return [from_row(row) for row in rows]


def unalerted_connection_problems(conn: sa.Connection) -> list[Company]:
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
    return [from_row(row) for row in rows]


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
        return f"removed on {minute(company.offboarded_at)}"
    if needs_reauthorisation(company.connection_state, company.first_synced_at):
        since = f" since {minute(company.connection_changed_at)}" if company.connection_changed_at else ""
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
