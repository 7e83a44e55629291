"""Removing a company from the pipeline, on Teammeter's side: the company is marked removed (no
write for it is accepted afterwards, see `registry.lock`), its people lose access or, on
request, its people data is deleted, and each removal is recorded in `company_offboardings`
(who, when, what). The local files and the Dagster partition are the caller's part
(`personio_pipeline/companies/removal.py`); the report it hands to `finish` is stored as it is.

Kept in every case: the organisation row (so the removal stays visible and the company can be
registered again), its `sync_runs` (their errors carry no addresses) and the offboarding records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.schema import (
    change_log,
    company_offboardings,
    invitations,
    organisations,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)

REQUESTED_BY_LIMIT = 255
LINKS = (team_memberships, user_roles, reporting_lines)
STRUCTURES = (units, teams, roles)
# Deleted by --purge-people, children before the rows they reference.
PEOPLE_DATA = (invitations, team_memberships, user_roles, reporting_lines, change_log, users, teams, units, roles)


@dataclass(frozen=True)
class Offboarding:
    id: int
    consumer_id: str
    requested_by: str
    started_at: datetime
    finished_at: datetime | None
    purge_people: bool
    report: dict[str, Any] | None


def clean_requested_by(name: str) -> str:
    """Who asked, as stored: no control characters (PostgreSQL refuses NUL), at most 255."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in name).strip()
    return (cleaned or "unknown")[:REQUESTED_BY_LIMIT]


def begin(conn: sa.Connection, consumer_id: str, *, requested_by: str, purge_people: bool, now: datetime) -> Offboarding:
    """Mark the company removed (from now on nothing is synced or written for it) and open the
    offboarding record; an interrupted removal of the same kind is resumed instead."""
    company = registry.lock(conn, consumer_id, allow_offboarded=True)
    now = as_utc(now)
    if company.offboarded_at is None:
        conn.execute(
            sa.update(organisations)
            .where(organisations.c.id == company.id)
            .values(offboarded_at=now)
        )
    unfinished = conn.execute(
        sa.select(company_offboardings.c.id)
        .where(
            company_offboardings.c.organisation_id == company.id,
            company_offboardings.c.finished_at.is_(None),
            company_offboardings.c.purge_people == purge_people,
        )
        .order_by(company_offboardings.c.id.desc())
    ).first()
    if unfinished is not None:
        return _get(conn, unfinished.id)
    offboarding_id = conn.execute(
        sa.insert(company_offboardings)
        .values(
            organisation_id=company.id,
            consumer_id=consumer_id,
            requested_by=clean_requested_by(requested_by),
            started_at=now,
            purge_people=purge_people,
        )
        .returning(company_offboardings.c.id)
    ).scalar_one()
    return _get(conn, offboarding_id)


def company_addresses(conn: sa.Connection, consumer_id: str) -> set[str]:
    """Every e-mail address Teammeter holds for the company's people (to find their mail files)."""
    company = registry.get(conn, consumer_id)
    found: set[str] = set()
    for column in (users.c.email, users.c.hr_email, invitations.c.email):
        query = sa.select(column).where(column.table.c.organisation_id == company.id, column.is_not(None))
        found.update(address.casefold() for address in conn.execute(query).scalars())
    return found


def deactivate_people(conn: sa.Connection, consumer_id: str, *, run_id: str, now: datetime) -> dict[str, int]:
    """Every user loses access (inactive, no login), open links end, structures are deactivated;
    each deactivated user gets a change-log entry. Rows stay. Counts per table."""
    company = registry.lock(conn, consumer_id, allow_offboarded=True)
    now = as_utc(now)
    active_users = sa.and_(users.c.organisation_id == company.id, users.c.active.is_(True))
    conn.execute(
        sa.insert(change_log).from_select(
            ["organisation_id", "run_id", "entity", "entity_key", "action", "before", "after", "at"],
            sa.select(
                users.c.organisation_id,
                sa.literal(run_id),
                sa.literal("user"),
                # An account outside HR has no employee id: the log names it by account id.
                sa.func.coalesce(users.c.employee_id, sa.literal("account ").concat(sa.cast(users.c.id, sa.String))),
                sa.literal("deactivate"),
                sa.literal({"active": True}, sa.JSON),
                sa.literal({"active": False, "has_access": False}, sa.JSON),
                sa.literal(now, sa.DateTime(timezone=True)),
            ).where(active_users),
        )
    )
    counts = {
        "users": conn.execute(
            sa.update(users).where(active_users).values(active=False, has_access=False, deactivated_at=now, updated_at=now)
        ).rowcount
    }
    for link in LINKS:
        counts[link.name] = conn.execute(
            sa.update(link)
            .where(link.c.organisation_id == company.id, link.c.ended_at.is_(None))
            .values(ended_at=now)
        ).rowcount
    for structure in STRUCTURES:
        counts[structure.name] = conn.execute(
            sa.update(structure)
            .where(structure.c.organisation_id == company.id, structure.c.active.is_(True))
            .values(active=False, deactivated_at=now, updated_at=now)
        ).rowcount
    _forget_synced_state(conn, company.id)
    return counts


def purge_people(conn: sa.Connection, consumer_id: str) -> dict[str, int]:
    """Delete the company's people data: users, their links, invitations, the change log and the
    units, teams and roles. Rows deleted per table."""
    company = registry.lock(conn, consumer_id, allow_offboarded=True)
    counts = {
        table.name: conn.execute(sa.delete(table).where(table.c.organisation_id == company.id)).rowcount
        for table in PEOPLE_DATA
    }
    _forget_synced_state(conn, company.id, first_sync=True)
    return counts


def finish(conn: sa.Connection, offboarding_id: int, report: dict[str, Any], *, now: datetime) -> Offboarding:
    conn.execute(
        sa.update(company_offboardings)
        .where(company_offboardings.c.id == offboarding_id)
        .values(finished_at=as_utc(now), report=report)
    )
    return _get(conn, offboarding_id)


def history(conn: sa.Connection, consumer_id: str) -> list[Offboarding]:
    """The company's removals, newest first."""
    company = registry.get(conn, consumer_id)
    ids = conn.execute(
        sa.select(company_offboardings.c.id)
        .where(company_offboardings.c.organisation_id == company.id)
        .order_by(company_offboardings.c.id.desc())
    ).scalars()
    return [_get(conn, offboarding_id) for offboarding_id in list(ids)]


def _forget_synced_state(conn: sa.Connection, organisation_id: int, *, first_sync: bool = False) -> None:
    """The store no longer matches the last sync: a company registered again diffs in full (and,
    after a purge, is onboarded afresh: first sync by hand, verification before invitations)."""
    values: dict[str, Any] = {"synced_model_fingerprint": None, "synced_store_signature": None, "synced_diffed_at": None}
    if first_sync:
        values.update(first_synced_at=None, verified_at=None)
    conn.execute(
        sa.update(organisations).where(organisations.c.id == organisation_id).values(**values)
    )


def _get(conn: sa.Connection, offboarding_id: int) -> Offboarding:
    row = conn.execute(sa.select(company_offboardings).where(company_offboardings.c.id == offboarding_id)).one()
    values = {name: row._mapping[name] for name in Offboarding.__dataclass_fields__}
    values["started_at"] = as_utc(values["started_at"])
    values["finished_at"] = as_utc(values["finished_at"]) if values["finished_at"] else None
    values["purge_people"] = bool(values["purge_people"])
    return Offboarding(**values)
