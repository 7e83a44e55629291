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

import sqlalchemy as sa

from personio_pipeline.common.tables import cell, format_table, natural_order
from personio_pipeline.companies import registry
from personio_pipeline.store import held_back
from personio_pipeline.store.schema import (
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
)
FORMATS = ("table", "json", "csv")
SEPARATOR = "; "



def review_users(conn: sa.Connection, consumer_id: str) -> list[dict]:
    """Every user of the company (active or not), ordered by employee id."""
    org = registry.get(conn, consumer_id)
    people = conn.execute(
        sa.select(
            users.c.id,
            users.c.employee_id,
            users.c.display_name,
            users.c.email,
            users.c.active,
            users.c.has_access,
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
    rows = []
    for person in people:
        team, team_source = team_cells.get(person.id, ("", ""))
        role, role_source = role_cells.get(person.id, ("", ""))
        manager, manager_source = manager_cells.get(person.id, ("", ""))
        rows.append(
            {
                "employee_id": person.employee_id,
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
            }
        )
    return sorted(rows, key=lambda row: natural_order(row["employee_id"]))


def review_summary(conn: sa.Connection, consumer_id: str) -> dict:
    """Counts a reviewer checks first: people, access, missing emails, structure, invitations."""
    org = registry.get(conn, consumer_id)
    people = conn.execute(
        sa.select(
            sa.func.count().label("users"),
            sa.func.count().filter(users.c.active).label("active"),
            sa.func.count().filter(users.c.has_access).label("with_access"),
            sa.func.count().filter(users.c.active, users.c.email.is_(None)).label("without_email"),
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
