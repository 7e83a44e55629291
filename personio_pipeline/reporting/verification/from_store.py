"""Reads one company's report content from the Teammeter store: a handful of SELECTs, the rest
in Python (a 100,000-person company is a few hundred thousand small rows).

The store knows who has access, what holds someone back (`held_back_records`), the units, teams,
roles and lines with their source, the invitations and each sync's changes. It does not keep why
an address was unusable or which spellings of a position were merged into one role: those come
from the org model's employees (`org/employees`) when the caller has them, and the page
says so when it does not.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from typing import NamedTuple

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.common.tables import natural_order
from personio_pipeline.companies import clock, registry
from personio_pipeline.companies import scope as company_scope
from personio_pipeline.org.columns import PRESENT_STATUSES
from personio_pipeline.org.structure import line_problem
from personio_pipeline.reporting.verification.content import (
    AFTER_VERIFICATION,
    SEPARATOR,
    FAILED,
    INACTIVE_MANAGER,
    INVITED,
    NEXT_RUN,
    ON_ITS_WAY,
    UNKNOWN_MANAGER,
    WAITING,
    Blocked,
    Edit,
    ExistingAccount,
    Header,
    Invitee,
    KeptOnUnknownStatus,
    Member,
    OrgPerson,
    ReportContent,
    Role,
    ScopeSummary,
    Team,
    Unit,
    access_problem,
    build_org_chart,
)
from personio_pipeline.reporting.verification.latest_changes import latest_changes
from personio_pipeline.store import held_back
from personio_pipeline.store.db import as_utc
from personio_pipeline.store.ownership import TEAMMETER
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



def gather(
    conn: sa.Connection,
    consumer_id: str,
    model_employees: pd.DataFrame | None = None,
    *,
    generated_at: datetime | None = None,
) -> ReportContent:
    """The company's report as the store holds it now. `model_employees` (the `org/employees`
    table) adds why addresses are unusable, merged spellings and unknown or inactive managers."""
    org = registry.get(conn, consumer_id)
    query = (sa.select(users.c.id, users.c.employee_id, users.c.display_name, users.c.email, users.c.email_source,
                       users.c.active, users.c.has_access, users.c.unit_id, users.c.linked_by, users.c.hr_status)
             .where(users.c.organisation_id == org.id))
    people = {row.id: row for row in map(_User._make, conn.execute(query).all())}
    # The report is about the people Personio lists: accounts outside HR (coaches, people added in
    # Teammeter) appear only where a Teammeter edit names them.
    active = {uid: row for uid, row in people.items() if row.active and row.employee_id is not None}
    unit_rows = _rows(conn, units, org.id, units.c.id, units.c.unit_key, units.c.name, units.c.source, units.c.active)
    team_rows = _rows(conn, teams, org.id, teams.c.id, teams.c.team_key, teams.c.name, teams.c.unit_id, teams.c.source,
                      teams.c.active)
    role_rows = _rows(conn, roles, org.id, roles.c.id, roles.c.role_key, roles.c.name, roles.c.source, roles.c.active)
    memberships = _open(conn, team_memberships, org.id, team_memberships.c.team_id)
    assignments = _open(conn, user_roles, org.id, user_roles.c.role_id)
    lines = _open(conn, reporting_lines, org.id, reporting_lines.c.manager_user_id,  # HR lines first
                  order=(sa.case((reporting_lines.c.source == "hr", 0), else_=1), reporting_lines.c.user_id,
                         reporting_lines.c.manager_user_id))
    held = _held_back(conn, org.id)
    model = _ModelFacts(model_employees)

    teams_of = _names_of(memberships, {i: row.name for i, row in team_rows.items() if row.active})
    roles_of = _names_of(assignments, {i: row.name for i, row in role_rows.items() if row.active})

    natural = {uid: natural_order(row.employee_id) for uid, row in active.items()}
    in_id_order = sorted(active, key=natural.__getitem__)
    rank = name_rank(active, in_id_order)
    access_from = model.access_days(clock.company_today(org.timezone), org.pre_start_days)
    invitees, blocked = _people_list(conn, org, active, teams_of, held, model, access_from, in_id_order)
    unit_groups, team_sizes = _units(active, unit_rows, team_rows, memberships, rank)
    org_people = {row.employee_id: OrgPerson(row.employee_id, row.display_name, SEPARATOR.join(roles_of.get(uid, ())))
                  for uid, row in active.items()}
    eid = {uid: row.employee_id for uid, row in active.items()}
    org_lines = [(eid[u], eid[m], source == TEAMMETER)
                 for u, m, source in lines if u in eid and m in eid]
    org_chart = build_org_chart(org_people, org_lines, model.manager_problems(set(org_people)), rank)
    role_list = _roles(role_rows, _holders(conn, org.id), model)
    header = Header(
        company=org.name,
        consumer_id=org.consumer_id,
        last_synced_at=org.last_synced_at,
        verified_at=org.verified_at,
        generated_at=generated_at or datetime.now(timezone.utc),
        people=len(active),
        with_access=len(invitees),
        without_access=len(blocked),
    )
    return ReportContent(
        header=header,
        invitees=invitees,
        blocked=blocked,
        units=unit_groups,
        team_sizes=team_sizes,
        org_chart=org_chart,
        roles=role_list,
        variants_known=model.known,
        edits=_edits(people, active, unit_rows, team_rows, role_rows, memberships, assignments, lines),
        changes=latest_changes(
            conn, org.id,
            names={row.employee_id: row.display_name for row in people.values()},
            team_names={row.team_key: row.name for row in team_rows.values() if row.team_key is not None},
            unit_names={row.unit_key: row.name for row in unit_rows.values() if row.unit_key is not None},
        ),
        accounts=_existing_accounts(people),
        kept_on_unknown_status=tuple(sorted(
            (KeptOnUnknownStatus(row.display_name, row.employee_id, bool(row.has_access))
             for row in active.values() if row.hr_status == "unknown"), key=lambda kept: kept.name.casefold())),
        unknown_status_policy=org.unknown_status,
        scope=_scope_summary(org, model_employees),
    )


class _User(NamedTuple):
    """A row of `users` (a plain tuple: reading its fields is cheap at 100,000 people)."""

    id: int
    employee_id: str | None
    display_name: str
    email: str | None
    email_source: str | None
    active: bool
    has_access: bool
    unit_id: int | None
    linked_by: str | None
    hr_status: str | None


def _names_of(links: list[tuple[int, int, str]], names: dict[int, str]) -> dict[int, list[str]]:
    """user id -> the names of the active teams (or roles) their open links point to, in link order."""
    found: dict[int, list[str]] = {}
    for user_id, other, _ in links:
        name = names.get(other)
        if name is not None:
            if user_id in found:
                found[user_id].append(name)
            else:
                found[user_id] = [name]
    return found


def _scope_summary(org: registry.Company, employees: pd.DataFrame | None) -> ScopeSummary | None:
    """The rollout scope and how many people Personio lists outside it (from the org model)."""
    scope = company_scope.load(org.scope)
    if scope.everyone:
        return None
    outside = None if employees is None else int((~scope.in_scope(employees)).sum())
    return ScopeSummary(scope.text(), outside)


def _existing_accounts(people: dict[int, sa.Row]) -> tuple[ExistingAccount, ...]:
    """Active accounts Teammeter had before the person came from Personio (linked), then the ones
    outside Personio, by name."""
    how = {"address": "linked by address", "rehire": "rehire: the former account is back"}
    linked, outside = [], []
    for row in people.values():
        if not row.active:
            continue
        if row.employee_id is None:
            outside.append(ExistingAccount(row.display_name, None, "outside Personio"))
        elif row.linked_by:
            linked.append(ExistingAccount(row.display_name, row.employee_id, how.get(row.linked_by, row.linked_by)))
    order = lambda account: account.name.casefold()  # noqa: E731
    return tuple(sorted(linked, key=order)) + tuple(sorted(outside, key=order))


class _ModelFacts:
    """What only the org model knows, per employee id; empty when it is not at hand."""

    def __init__(self, employees: pd.DataFrame | None):
        self.known = employees is not None
        self.employees = employees if employees is not None else pd.DataFrame(
            columns=["employee_id", "email_problem", "role_key", "role_name", "status", "manager_id", "display_name"])
        self.email_problem = dict(zip(self.employees["employee_id"], self.employees["email_problem"]))

    def access_days(self, today: date, pre_start_days: int) -> dict[str, str]:
        """Pre-hires (active, start date ahead of today + the pre-start days) -> their access day."""
        if not self.known or "start_date" not in self.employees:
            return {}
        start = pd.to_datetime(self.employees["start_date"], errors="coerce")
        ahead = (self.employees["status"] == "active").to_numpy() & (
            start > pd.Timestamp(today) + pd.Timedelta(days=pre_start_days)).to_numpy()
        days = start[ahead] - pd.Timedelta(days=pre_start_days)
        return dict(zip(self.employees.loc[ahead, "employee_id"], days.dt.strftime("%Y-%m-%d")))

    def spellings(self) -> dict[str, Counter]:
        """role key -> the titles as served (whitespace collapsed) and how many records carry each."""
        found: dict[str, Counter] = defaultdict(Counter)
        titled = self.employees.dropna(subset=["role_key", "role_name"])
        pairs = titled.groupby(["role_key", "role_name"], sort=False, observed=True).size()
        for (key, name), records in pairs.items():  # each spelling once, not each record
            found[key][" ".join(str(name).split())] += int(records)
        return found

    def manager_problems(self, active_ids: set[str]) -> dict[str, str]:
        """Active people whose manager in Personio is unknown or has left -> why."""
        if not self.known or self.employees.empty:
            return {}
        employees = self.employees
        # As derive_reporting_lines says why a line was dropped (cycles aside: the tree finds those).
        has_manager = (employees["status"].isin(PRESENT_STATUSES) & employees["manager_id"].notna()
                       & employees["employee_id"].isin(active_ids))
        reports = employees.loc[has_manager, ["employee_id", "manager_id"]]
        status_by_id = pd.Series(employees["status"].to_numpy(), index=employees["employee_id"])
        problems = reports.assign(problem=line_problem(reports, status_by_id))
        problems = problems[problems["problem"].isin(["unknown_manager", "inactive_manager"])]
        names = dict(zip(employees["employee_id"], employees["display_name"])) if len(problems) else {}
        why = {}
        for row in problems.itertuples(index=False):
            if row.employee_id not in active_ids:
                continue
            if row.problem == "unknown_manager":
                why[row.employee_id] = UNKNOWN_MANAGER.format(manager_id=row.manager_id)
            elif row.problem == "inactive_manager":
                why[row.employee_id] = INACTIVE_MANAGER.format(manager=names.get(row.manager_id, row.manager_id))
        return why


def _rows(conn: sa.Connection, table: sa.Table, organisation_id: int, *columns) -> dict[int, sa.Row]:
    return {row.id: row for row in conn.execute(sa.select(*columns).where(table.c.organisation_id == organisation_id))}


def _open(conn: sa.Connection, links: sa.Table, organisation_id: int, other, order=()) -> list[tuple[int, int, str]]:
    """Open links as (user id, other id, source)."""
    query = sa.select(links.c.user_id, other, links.c.source).where(
        links.c.organisation_id == organisation_id, links.c.ended_at.is_(None)).order_by(*order)
    return list(map(tuple, conn.execute(query).all()))


def _held_back(conn: sa.Connection, organisation_id: int) -> dict[str, dict[str, str]]:
    """employee id -> problem -> detail, for the people held back now."""
    held: dict[str, dict[str, str]] = defaultdict(dict)
    for row in held_back.open_records(conn, organisation_id).itertuples(index=False):
        held[row.employee_id][row.problem] = row.detail or ""
    return held


def _people_list(conn, org, active, teams_of, held, model, access_from,
                 in_id_order) -> tuple[tuple[Invitee, ...], tuple[Blocked, ...]]:
    """Every active person once: who can log in (and where their invitation stands), who cannot."""
    sent, latest = {}, {}
    query = (sa.select(invitations.c.user_id, invitations.c.status, invitations.c.sent_at)
             .where(invitations.c.organisation_id == org.id).order_by(invitations.c.id))
    for user_id, status, sent_at in conn.execute(query):
        latest[user_id] = status
        if status == "sent":
            sent[user_id] = sent_at
    invitees, blocked = [], []
    not_yet = (AFTER_VERIFICATION if org.verified_at is None else NEXT_RUN), ""  # nothing sent or queued yet
    for uid in in_id_order:
        row = active[uid]
        problems = held.get(row.employee_id, {})
        if row.has_access:
            note = "held back: " + "; ".join(f"{p.replace('_', ' ')} {d}" for p, d in problems.items()) if problems else ""
            status, invited_on = _invitation_status(uid, sent, latest, org) if uid in latest else not_yet
            invitees.append(Invitee(row.employee_id, row.display_name, row.email or "", SEPARATOR.join(teams_of.get(uid, ())),
                                    status, invited_on, note))
        else:
            reason, detail, fix = access_problem(email=row.email, held_back=problems,
                                                 email_problem=model.email_problem.get(row.employee_id),
                                                 access_from=access_from.get(row.employee_id),
                                                 unknown_status=row.hr_status == "unknown")
            blocked.append(Blocked(row.employee_id, row.display_name, reason, detail, fix, row.email or "",
                                   SEPARATOR.join(teams_of.get(uid, ()))))
    return tuple(invitees), tuple(blocked)


def _invitation_status(user_id: int, sent: dict, latest: dict, org) -> tuple[str, str]:
    """(status, the day it was sent) for someone who can log in."""
    if user_id in sent:
        return INVITED, f"{as_utc(sent[user_id]):%Y-%m-%d}" if sent[user_id] else ""
    status = latest.get(user_id)
    if status in ("pending", "claimed"):
        return ON_ITS_WAY, ""
    if status == "failed":
        return FAILED, ""
    if status == "ambiguous":
        return WAITING, ""
    return (AFTER_VERIFICATION if org.verified_at is None else NEXT_RUN), ""


def _units(active, unit_rows, team_rows, memberships, rank) -> tuple[tuple[Unit, ...], tuple[tuple[str, int], ...]]:
    """Units -> teams -> members (active people and structures), then the team sizes. `rank`:
    employee id -> position by name (members are listed by name)."""
    live_teams = {team_id for team_id, row in team_rows.items() if row.active}
    live_units = {unit_id for unit_id, row in unit_rows.items() if row.active}
    members: dict[int, list[Member]] = defaultdict(list)
    in_team: set[int] = set()
    eid = {user_id: row.employee_id for user_id, row in active.items()}
    kept = [link for link in memberships if link[1] in live_teams and link[0] in eid]
    kept.sort(key=lambda link: rank[eid[link[0]]])  # so each team's members come in name order
    for user_id, team_id, source in kept:
        row = active[user_id]
        members[team_id].append(Member(row.display_name, row.employee_id, source == TEAMMETER))
        in_team.add(user_id)
    order = lambda member: rank[member.employee_id]  # noqa: E731
    teams_by_unit: dict[int | None, list[Team]] = defaultdict(list)
    sizes = []
    for team_id, row in team_rows.items():
        if not row.active:
            continue
        people = tuple(members[team_id]) if team_id in members else ()
        unit_id = row.unit_id if row.unit_id in live_units else None
        teams_by_unit[unit_id].append(Team(row.name, row.source == TEAMMETER, people))
        sizes.append((row.name, len(people)))
    loose: dict[int | None, list[Member]] = defaultdict(list)
    for user_id, row in active.items():
        if user_id not in in_team:
            unit_id = row.unit_id if row.unit_id in live_units else None
            loose[unit_id].append(Member(row.display_name, row.employee_id))
    groups = [
        Unit(row.name, row.source == TEAMMETER, _by_name(teams_by_unit[unit_id]),
             tuple(sorted(loose[unit_id], key=order)))
        for unit_id, row in sorted(unit_rows.items(), key=lambda item: item[1].name.casefold())
        if row.active
    ]
    if teams_by_unit[None] or loose[None]:
        groups.append(Unit(None, False, _by_name(teams_by_unit[None]), tuple(sorted(loose[None], key=order))))
    sizes.sort(key=lambda item: (-item[1], item[0].casefold()))
    return tuple(groups), tuple(sizes)


def name_rank(active: dict[int, "_User"], in_id_order: list[int]) -> dict[str, int]:
    """employee id -> position when ordered by name (case-blind), then by id: a stable sort by
    name of the people already in id order (`natural_order`)."""
    folded = {uid: active[uid].display_name.casefold() for uid in in_id_order}
    ordered = sorted(in_id_order, key=folded.__getitem__)
    return {active[uid].employee_id: position for position, uid in enumerate(ordered)}


def _by_name(found: list[Team]) -> tuple[Team, ...]:
    return tuple(sorted(found, key=lambda team: team.name.casefold()))


def _holders(conn: sa.Connection, organisation_id: int) -> dict[int, int]:
    """role id -> how many active people from Personio hold it (counted by the database)."""
    query = (sa.select(user_roles.c.role_id, sa.func.count(sa.distinct(user_roles.c.user_id)))
             .join_from(user_roles, users, users.c.id == user_roles.c.user_id)
             .where(user_roles.c.organisation_id == organisation_id, user_roles.c.ended_at.is_(None), users.c.active,
                    users.c.employee_id.is_not(None))
             .group_by(user_roles.c.role_id))
    return dict(conn.execute(query).all())


def _roles(role_rows, holders: dict[int, int], model: _ModelFacts) -> tuple[Role, ...]:
    """Active roles with their active holders and the spellings merged into them."""
    spellings = model.spellings()
    found = []
    for role_id, row in role_rows.items():
        if not row.active:
            continue
        served = spellings.get(row.role_key, Counter()) if row.role_key is not None else Counter()
        variants = tuple(sorted(served.items(), key=lambda item: (-item[1], item[0])))
        merged = variants if len(variants) > 1 or (variants and variants[0][0] != row.name) else ()
        found.append(Role(row.name, holders.get(role_id, 0), row.source == TEAMMETER, merged))
    return tuple(sorted(found, key=lambda role: (-role.holders, role.name.casefold())))


def _edits(people, active, unit_rows, team_rows, role_rows, memberships, assignments, lines) -> tuple[Edit, ...]:
    """What was added in Teammeter by hand (the sync never changes it)."""
    def name(user_id: int) -> str:
        return people[user_id].display_name

    edits = [Edit("unit", row.name) for row in unit_rows.values() if row.active and row.source == TEAMMETER]
    for row in team_rows.values():
        if row.active and row.source == TEAMMETER:
            unit = unit_rows.get(row.unit_id)
            edits.append(Edit("team", row.name + (f" (in {unit.name})" if unit is not None else "")))
    edits += [Edit("role", row.name) for row in role_rows.values() if row.active and row.source == TEAMMETER]
    edits += [Edit("team member", f"{name(u)} in {team_rows[t].name}") for u, t, source in memberships
              if source == TEAMMETER and u in active and t in team_rows]
    edits += [Edit("role holder", f"{name(u)} as {role_rows[r].name}") for u, r, source in assignments
              if source == TEAMMETER and u in active and r in role_rows]
    edits += [Edit("manager", f"{name(u)} reports to {name(m)}") for u, m, source in lines
              if source == TEAMMETER and u in active and m in people]
    edits += [Edit("email address", f"{row.display_name}: {row.email}") for row in active.values()
              if row.email_source == TEAMMETER and row.email]
    return tuple(sorted(edits, key=lambda edit: (edit.kind, edit.what.casefold())))
