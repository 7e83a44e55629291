"""Hand edits as Teammeter itself makes them (source 'teammeter'): the sync never changes these.

This is the interface Teammeter's own code uses for hand edits (coaches' teams, roles, reporting
lines and addresses; `mark_verified` for `personio-pipeline verify`), and the one the
ownership tests drive, so what they prove is what Teammeter writes.

People are addressed by consumer id + HR employee id, units by their HR key, and teams/roles
made here by the ids these functions return. Each call takes the company lock (like the sync)
and runs in the caller's transaction; open it with `db.company_transaction(engine)` so that on
SQLite an edit waits for a running sync instead of failing with "database is locked".
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from personio_pipeline.common.clock import utc_now
from personio_pipeline.companies import registry
from personio_pipeline.org.employees import check_email
from personio_pipeline.store import unchanged
from personio_pipeline.store.ownership import TEAMMETER
from personio_pipeline.store.schema import (
    organisations,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)


def create_team(
    conn: sa.Connection, consumer_id: str, name: str, unit_key: str | None = None, *, now: datetime | None = None
) -> int:
    """A team made in Teammeter, optionally inside an (HR) unit; returns its id."""
    org = _lock_for_edit(conn, consumer_id)
    unit_id = None if unit_key is None else _id(conn, units, org.id, units.c.unit_key == unit_key, f"unit '{unit_key}'")
    return _insert(
        conn, teams, organisation_id=org.id, name=_name(name), unit_id=unit_id, source=TEAMMETER, created_at=now
    )


def create_role(conn: sa.Connection, consumer_id: str, name: str, *, now: datetime | None = None) -> int:
    """A role made in Teammeter; returns its id."""
    org = _lock_for_edit(conn, consumer_id)
    return _insert(conn, roles, organisation_id=org.id, name=_name(name), source=TEAMMETER, created_at=now)


def add_member(
    conn: sa.Connection, consumer_id: str, team_id: int, employee_id: str, *, now: datetime | None = None
) -> int:
    """Puts a person in any team of the company; returns the membership id (the open one if any)."""
    org = _lock_for_edit(conn, consumer_id)
    _id(conn, teams, org.id, teams.c.id == team_id, f"team {team_id}")
    return _open_link(
        conn, team_memberships, org.id, team_id=team_id, user_id=_user_id(conn, org.id, employee_id), now=now
    )


def assign_role(
    conn: sa.Connection, consumer_id: str, employee_id: str, role_id: int, *, now: datetime | None = None
) -> int:
    """Gives a person any role of the company; returns the assignment id (the open one if any)."""
    org = _lock_for_edit(conn, consumer_id)
    _id(conn, roles, org.id, roles.c.id == role_id, f"role {role_id}")
    return _open_link(conn, user_roles, org.id, user_id=_user_id(conn, org.id, employee_id), role_id=role_id, now=now)


def add_reporting_line(
    conn: sa.Connection, consumer_id: str, employee_id: str, manager_employee_id: str, *, now: datetime | None = None
) -> int:
    """A manager -> report line made in Teammeter; returns its id (the open one if any)."""
    if employee_id == manager_employee_id:
        raise ValueError(f"Employee {employee_id} cannot be their own manager.")
    org = _lock_for_edit(conn, consumer_id)
    user_id, manager_id = _user_id(conn, org.id, employee_id), _user_id(conn, org.id, manager_employee_id)
    return _open_link(conn, reporting_lines, org.id, user_id=user_id, manager_user_id=manager_id, now=now)


def set_email(
    conn: sa.Connection, consumer_id: str, employee_id: str, email: str, *, now: datetime | None = None
) -> str:
    """Sets a person's login address (source 'teammeter', so HR will not overwrite it) and gives
    an active person access; returns the normalised address."""
    org = _lock_for_edit(conn, consumer_id)
    user_id = _user_id(conn, org.id, employee_id)
    address = _email(email)
    taken = conn.execute(
        sa.select(users.c.employee_id).where(
            users.c.organisation_id == org.id, users.c.email == address, users.c.id != user_id
        )
    ).first()
    if taken:
        raise ValueError(f"{address} is already the login of employee {taken.employee_id} in '{consumer_id}'.")
    conn.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(email=address, email_source=TEAMMETER, has_access=users.c.active, updated_at=now or utc_now())
    )
    return address


def create_user(
    conn: sa.Connection, consumer_id: str, name: str, email: str, *, registered: bool = False,
    now: datetime | None = None,
) -> int:
    """An account made in Teammeter, outside HR (a coach, someone added by hand, an account from
    before the connection): no employee id, access with its address. The sync never changes,
    deactivates or invites it, and links it to the HR person with the same address (see
    `store/linking.py`). `registered`: the person has signed in already. Returns the account id."""
    company = _lock_for_edit(conn, consumer_id)
    address = _email(email)
    taken = conn.execute(
        sa.select(users.c.id, users.c.employee_id).where(users.c.organisation_id == company.id, users.c.email == address)
    ).first()
    if taken:
        owner = f"employee {taken.employee_id}" if taken.employee_id is not None else f"account {taken.id}"
        raise ValueError(f"{address} is already the login of {owner} in '{consumer_id}'.")
    display_name = _name(name)
    return _insert(
        conn, users, organisation_id=company.id, employee_id=None, display_name=display_name, email=address,
        email_source=TEAMMETER, active=True, has_access=True, origin=TEAMMETER, registered=registered,
        created_at=now,
    )


def mark_registered(conn: sa.Connection, consumer_id: str, account_id: int) -> None:
    """The person behind the account has signed in: they are never invited."""
    company = _lock_for_edit(conn, consumer_id)
    _id(conn, users, company.id, users.c.id == account_id, f"account {account_id}")
    conn.execute(sa.update(users).where(users.c.id == account_id).values(registered=True))


def mark_verified(conn: sa.Connection, consumer_id: str, *, now: datetime | None = None) -> None:
    """The data team checked the imported organisation: invitations may go out."""
    registry.lock(conn, consumer_id)
    table = organisations
    conn.execute(sa.update(table).where(table.c.consumer_id == consumer_id).values(verified_at=now or utc_now()))


def _lock_for_edit(conn: sa.Connection, consumer_id: str) -> registry.Company:
    """The company lock, and the next sync diffs in full: the store is about to change."""
    company = registry.lock(conn, consumer_id)
    unchanged.forget(conn, company.id)
    return company


def _open_link(conn: sa.Connection, table: sa.Table, organisation_id: int, *, now: datetime | None, **ends: int) -> int:
    """The open Teammeter link between these rows, created if missing (so repeats are harmless)."""
    existing = conn.execute(
        sa.select(table.c.id).where(
            table.c.source == TEAMMETER, table.c.ended_at.is_(None), *(table.c[k] == v for k, v in ends.items())
        )
    ).scalar()
    if existing is not None:
        return existing
    return _insert(conn, table, organisation_id=organisation_id, source=TEAMMETER, started_at=now, **ends)


def _insert(conn: sa.Connection, table: sa.Table, **values) -> int:
    for stamp in ("created_at", "started_at"):
        if stamp in values:
            values[stamp] = values[stamp] or utc_now()
    return conn.execute(sa.insert(table).values(**values).returning(table.c.id)).scalar_one()


def _id(conn: sa.Connection, table: sa.Table, organisation_id: int, condition, what: str) -> int:
    found = conn.execute(sa.select(table.c.id).where(table.c.organisation_id == organisation_id, condition)).scalar()
    if found is None:
        raise LookupError(f"No {what} in this company.")
    return found


def _user_id(conn: sa.Connection, organisation_id: int, employee_id: str) -> int:
    return _id(conn, users, organisation_id, users.c.employee_id == employee_id, f"user with employee id {employee_id}")


def _name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValueError("A name is required.")
    return name


def _email(email: str) -> str:
    """Normalised by the same address policy as HR addresses (`model.employees.check_email`),
    so an address set in Teammeter can log in and be invited exactly when an HR one could."""
    normalised, reason = check_email(email)
    if normalised is None:
        raise ValueError(f"'{email}' is not a usable email address: {reason}")
    return normalised
