"""What the data team checks before a company is verified: one row per user with their team,
unit, role and manager (and where each came from), plus summary counts, as table, JSON or CSV.

A person can be in several teams, hold several roles or have several managers (HR and
Teammeter ones side by side); those cells list them all, HR first, joined by '; '. A person the
sync holds back (shared address, management cycle) is marked in `held_back` with the problem,
the HR field to fix and who else is involved.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa

from personio_pipeline.common.tables import cell, format_table, natural_order
from personio_pipeline.companies import clock, registry
from personio_pipeline.store import held_back
from personio_pipeline.store.schema import (
    change_log,
    invitations,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)

COLUMNS = (
    "employee_id",
    "account_id",
    "origin",
    "linked_by",
    "registered",
    "starts_on",
    "name",
    "email",
    "active",
    "has_access",
    "team",
    "team_source",
    "unit",
    "role",
    "role_source",
    "manager_employee_id",
    "manager_source",
    "invited",
    "invitation",
    "held_back",
    "note",
)
FORMATS = ("table", "json", "csv")
SEPARATOR = "; "



def review_users(conn: sa.Connection, consumer_id: str) -> list[dict]:
    """Every account of the company (active or not): HR people ordered by employee id, then the
    accounts outside HR (coaches, people added in Teammeter; `employee_id` None) by account id."""
    org = registry.get(conn, consumer_id)
    people = conn.execute(
        sa.select(
            users.c.id,
            users.c.employee_id,
            users.c.display_name,
            users.c.email,
            users.c.active,
            users.c.has_access,
            users.c.origin,
            users.c.linked_by,
            users.c.registered,
            users.c.starts_on,
            users.c.hr_status,
            units.c.name.label("unit"),
        )
        .outerjoin(units, units.c.id == users.c.unit_id)
        .where(users.c.organisation_id == org.id)
    ).all()
    managers = users.alias("managers")
    team_cells = _open_links(conn, org.id, team_memberships, teams.c.name, teams, team_memberships.c.team_id)
    role_cells = _open_links(conn, org.id, user_roles, roles.c.name, roles, user_roles.c.role_id)
    manager_cells = _open_links(
        conn, org.id, reporting_lines, managers.c.employee_id, managers, reporting_lines.c.manager_user_id
    )
    # Newest invitation per user: its status shows what is under way (pending, failed, ambiguous…).
    latest_invitation = dict(
        conn.execute(
            sa.select(invitations.c.user_id, invitations.c.status)
            .where(invitations.c.organisation_id == org.id)
            .order_by(invitations.c.id)
        ).all()
    )
    invited = set(
        conn.execute(
            sa.select(invitations.c.user_id).where(
                invitations.c.organisation_id == org.id, invitations.c.status == "sent"
            )
        ).scalars()
    )
    held = held_back.open_by_employee(conn, org.id)
    recycled = _recycled_addresses(conn, org.id)
    access_day = clock.company_today(org.timezone) + timedelta(days=org.pre_start_days)
    rows = []
    for person in people:
        team, team_source = team_cells.get(person.id, ("", ""))
        role, role_source = role_cells.get(person.id, ("", ""))
        manager, manager_source = manager_cells.get(person.id, ("", ""))
        rows.append(
            {
                "employee_id": person.employee_id,
                "account_id": person.id,
                "origin": person.origin,
                "linked_by": person.linked_by,
                "registered": bool(person.registered),
                "starts_on": person.starts_on.isoformat() if person.starts_on else "",
                "name": person.display_name,
                "email": person.email,
                "active": bool(person.active),
                "has_access": bool(person.has_access),
                "team": team,
                "team_source": team_source,
                "unit": person.unit,
                "role": role,
                "role_source": role_source,
                "manager_employee_id": manager,
                "manager_source": manager_source,
                "invited": person.id in invited,
                "invitation": latest_invitation.get(person.id, ""),
                "held_back": held.get(person.employee_id, ""),
                "note": "; ".join(filter(None, [recycled.get(person.id), _status_note(person, org, access_day)])),
            }
        )
    # HR people in id order, then the accounts outside HR (employee_id null) by account id.
    return sorted(rows, key=lambda row: (row["employee_id"] is None, natural_order(row["employee_id"] or ""),
                                         row["account_id"]))


def _status_note(person: sa.Row, org, access_day: date) -> str | None:
    """Why an HR account looks as it does when HR's status alone does not say: a pre-hire, a
    person kept on an unknown status, an account deactivated as its person left the scope."""
    if person.employee_id is None:
        return None
    if person.active and not person.has_access and person.starts_on and person.starts_on > access_day:
        return f"pre-hire: access from {(person.starts_on - timedelta(days=org.pre_start_days)).isoformat()}"
    if person.active and person.hr_status == "unknown":
        return f"kept on an unknown HR status (company policy: {org.unknown_status})"
    if not person.active and person.hr_status == "out_of_scope":
        return "out of scope: deactivated when the company's scope left them out"
    return None


def _recycled_addresses(conn: sa.Connection, organisation_id: int) -> dict[int, str]:
    """Account id -> note, for accounts whose address was a former person's (the change log's
    `recycled_address` entries: a new account was made, the old one kept)."""
    entries = conn.execute(
        sa.select(change_log.c.entity_key, change_log.c.after).where(
            change_log.c.organisation_id == organisation_id, change_log.c.entity == "user",
            change_log.c.action == "recycled_address")
    ).all()
    if not entries:
        return {}
    account_of = dict(conn.execute(
        sa.select(users.c.employee_id, users.c.id).where(
            users.c.organisation_id == organisation_id, users.c.employee_id.in_([e.entity_key for e in entries]))
    ).all())
    return {account_of[e.entity_key]: f"recycled address: account {(e.after or {}).get('former_account_id')} "
            "(a former person) had it" for e in entries if e.entity_key in account_of}


def review_summary(conn: sa.Connection, consumer_id: str) -> dict:
    """Counts a reviewer checks first: people, access, missing emails, structure, invitations."""
    org = registry.get(conn, consumer_id)
    people = conn.execute(
        sa.select(
            sa.func.count().label("users"),
            sa.func.count().filter(users.c.active).label("active"),
            sa.func.count().filter(users.c.has_access).label("with_access"),
            sa.func.count().filter(users.c.active, users.c.email.is_(None)).label("without_email"),
            sa.func.count().filter(users.c.employee_id.is_(None)).label("outside_hr"),
            sa.func.count().filter(users.c.linked_by.is_not(None)).label("linked_accounts"),
        ).where(users.c.organisation_id == org.id)
    ).one()
    summary = dict(people._mapping)
    for name, table in (("teams", teams), ("units", units), ("roles", roles)):
        summary[name] = _count(conn, table, org.id, table.c.active)
    summary["reporting_lines"] = _count(conn, reporting_lines, org.id, reporting_lines.c.ended_at.is_(None))
    summary["held_back"] = len(held_back.open_by_employee(conn, org.id))
    summary["invited"] = conn.execute(
        sa.select(sa.func.count(sa.distinct(invitations.c.user_id))).where(
            invitations.c.organisation_id == org.id, invitations.c.status == "sent"
        )
    ).scalar_one()
    return summary


def format_review(rows: list[dict], summary: dict, fmt: str = "table") -> str:
    """'table' (summary counts, then one line per user), 'json' (the users) or 'csv' (with header)."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "table":
        counts = [f"{name.replace('_', ' ')}: {value}" for name, value in summary.items()]
        return "\n".join(counts) + "\n\n" + format_table(([cell(row[c]) for c in COLUMNS] for row in rows), COLUMNS)
    raise ValueError(f"Unknown review format '{fmt}': use one of {', '.join(FORMATS)}.")


def _open_links(
    conn: sa.Connection, organisation_id: int, links: sa.Table, label: sa.Column, target: sa.Table, target_id
) -> dict[int, tuple[str, str]]:
    """user id -> (labels, sources) of the user's open links, HR first, then by label."""
    query = (
        sa.select(links.c.user_id, label, links.c.source)
        .join(target, target.c.id == target_id)
        .where(links.c.organisation_id == organisation_id, links.c.ended_at.is_(None))
        .order_by(links.c.user_id, links.c.source, label)
    )
    cells: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for user_id, value, source in conn.execute(query):
        cells[user_id].append((value, source))
    return {
        user_id: (SEPARATOR.join(v for v, _ in pairs), SEPARATOR.join(s for _, s in pairs))
        for user_id, pairs in cells.items()
    }


def _count(conn: sa.Connection, table: sa.Table, organisation_id: int, condition) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.organisation_id == organisation_id, condition)
    return conn.execute(query).scalar_one()
