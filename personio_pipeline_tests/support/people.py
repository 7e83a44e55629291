"""The organisation model built by hand: a small factory that turns a list of people into the
five model DataFrames (the contract of `personio_pipeline.org.columns`) the way the model layer
would, the ACME story used across the store, reporting and invitation tests (day one, its
evening, day two and exactly what day two must change), and syncing it into a store."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from personio_pipeline.org.columns import (
    EMPLOYEE_COLUMNS,
    PRESENT_STATUSES,
    REPORTING_LINE_COLUMNS,
    ROLE_COLUMNS,
    TEAM_COLUMNS,
    UNIT_COLUMNS,
)
from personio_pipeline.store.diff import OrgModel
from personio_pipeline.store.schema import change_log
from personio_pipeline.store.sync import sync_company
from personio_pipeline_tests.support.stores import table_rows


# ---------------------------------------------------------------- organisation model factory


@dataclass
class Person:
    employee_id: str
    name: str | None = None
    email: str | None = "default"
    status: str = "active"
    team: str | None = None
    unit: str | None = None
    role: str | None = None
    manager: str | None = None


def person(employee_id: str, **fields) -> Person:
    """An employee; email defaults to <id>@acme.test, `email=None` means HR has none."""
    return Person(employee_id, **fields)


def _key(prefix: str, name: str | None) -> str | None:
    return None if name is None else prefix + " ".join(name.split()).casefold()


def org_model(people: list[Person]) -> OrgModel:
    """The five model tables for these people, columns exactly as in the model contract."""
    employees = pd.DataFrame(
        [
            {
                "employee_id": p.employee_id,
                "employee_number": p.employee_id,
                "first_name": (p.name or f"Person {p.employee_id}").split()[0],
                "last_name": (p.name or f"Person {p.employee_id}").split()[-1],
                "display_name": p.name or f"Person {p.employee_id}",
                "email": f"{p.employee_id.lower()}@acme.test" if p.email == "default" else p.email,
                "email_type": "work",
                "email_problem": "missing" if p.email is None else None,
                "status": p.status,
                "raw_status": p.status,
                "team_key": _key("name:", p.team),
                "team_name": p.team,
                "unit_key": _key("name:", p.unit),
                "unit_name": p.unit,
                "role_key": _key("", p.role),
                "role_name": p.role,
                "manager_id": p.manager,
                "start_date": pd.NaT,
                "end_date": pd.NaT,
                "updated_at": pd.Timestamp("2026-01-01", tz="UTC"),
            }
            for p in people
        ],
        columns=list(EMPLOYEE_COLUMNS),
    )
    active = employees[employees["status"].isin(PRESENT_STATUSES)]  # active, or unknown (e.g. a leave)
    teams = [
        {
            "team_key": key,
            "name": group["team_name"].iloc[0],
            "unit_key": _shared_unit(active[active["team_key"] == key]),
            "member_count": int(group["status"].isin(PRESENT_STATUSES).sum()),
        }
        for key, group in employees.dropna(subset=["team_key"]).groupby("team_key")
    ]
    units = [
        {"unit_key": key, "name": group["unit_name"].iloc[0], "member_count": int(group["status"].isin(PRESENT_STATUSES).sum())}
        for key, group in employees.dropna(subset=["unit_key"]).groupby("unit_key")
    ]
    roles = [
        {"role_key": key, "name": group["role_name"].iloc[0], "holder_count": int(group["status"].isin(PRESENT_STATUSES).sum())}
        for key, group in employees.dropna(subset=["role_key"]).groupby("role_key")
    ]
    active_ids = set(active["employee_id"])
    lines = [
        {"employee_id": p.employee_id, "manager_id": p.manager}
        for p in people
        if p.employee_id in active_ids and p.manager in active_ids and p.manager != p.employee_id
    ]
    return OrgModel(
        employees=employees,
        teams=pd.DataFrame(teams, columns=list(TEAM_COLUMNS)),
        units=pd.DataFrame(units, columns=list(UNIT_COLUMNS)),
        roles=pd.DataFrame(roles, columns=list(ROLE_COLUMNS)),
        reporting_lines=pd.DataFrame(lines, columns=list(REPORTING_LINE_COLUMNS)),
    )


def _shared_unit(members: pd.DataFrame) -> str | None:
    units = members["unit_key"].dropna().unique()
    return units[0] if len(units) == 1 and members["unit_key"].notna().all() else None


# ---------------------------------------------------------------- the ACME story


def day_one() -> list[Person]:
    """Nine people; Gus left before Teammeter existed, Eve has no email in HR."""
    eng, sales = {"unit": "Engineering"}, {"unit": "Sales"}
    return [
        person("1", name="Ada Admin", team="Platform", role="Engineering Manager", **eng),
        person("2", name="Ben Bauer", team="Platform", role="Software Engineer", manager="1", **eng),
        person("3", name="Cleo Cruz", team="Platform", role="software  engineer", manager="1", **eng),
        person("4", name="Dan Dahl", team="Mobile", role="Software Engineer", manager="1", **eng),
        person("5", name="Eve Ek", team="Sales Team", role="Account Executive", manager="6", email=None, **sales),
        person("6", name="Finn Fox", team="Sales Team", role="Sales Lead", **sales),
        person("7", name="Gus Gray", team="Mobile", role="Software Engineer", status="terminated", **eng),
        person("8", name="Hana Holm", team="Mobile", role="Software Engineer", manager="1", **eng),
        person("9", name="Ivo Iver", team="Sales Team", role="Account Executive", manager="6", **sales),
    ]


def day_one_evening() -> list[Person]:
    """Ivo leaves (he comes back on day two)."""
    return [replaced(p, status="terminated") if p.employee_id == "9" else p for p in day_one()]


def day_two() -> list[Person]:
    """A hire (Jo), a move (Dan to Platform), a manager change (Cleo now reports to Ben), a leaver
    (Hana), a rehire (Ivo) and a renamed position (Account Executive -> Account Manager)."""
    changed = {
        "3": {"manager": "2"},
        "4": {"team": "Platform"},
        "5": {"role": "Account Manager"},
        "8": {"status": "terminated"},
        "9": {"status": "active", "role": "Account Manager"},
    }
    people = [replaced(p, **changed.get(p.employee_id, {})) for p in day_one()]
    hire = person("10", name="Jo Jung", team="Mobile", unit="Engineering", role="Software Engineer", manager="1")
    return people + [hire]


# Exactly what day two must change, as (entity, key, action).
DAY_TWO_CHANGES = {
    ("role", "account manager", "create"),
    ("role", "account executive", "deactivate"),
    ("user", "10", "create"),
    ("user", "8", "deactivate"),
    ("user", "9", "reactivate"),
    ("team_membership", "10|name:mobile", "create"),
    ("team_membership", "4|name:mobile", "end"),
    ("team_membership", "4|name:platform", "create"),
    ("team_membership", "8|name:mobile", "end"),
    ("team_membership", "9|name:sales team", "create"),
    ("user_role", "10|software engineer", "create"),
    ("user_role", "8|software engineer", "end"),
    ("user_role", "5|account executive", "end"),
    ("user_role", "5|account manager", "create"),
    ("user_role", "9|account manager", "create"),
    ("reporting_line", "10|1", "create"),
    ("reporting_line", "3|1", "end"),
    ("reporting_line", "3|2", "create"),
    ("reporting_line", "8|1", "end"),
    ("reporting_line", "9|6", "create"),
}


def replaced(p: Person, **fields) -> Person:
    return Person(**{**p.__dict__, **fields})


def sync(engine: sa.Engine, people: list[Person], run_id: str, consumer_id: str = "acme", **options):
    return sync_company(engine, consumer_id, org_model(people), run_id=run_id, **options)


def logged(engine: sa.Engine, run_id: str, consumer_id: str = "acme") -> set[tuple[str, str, str]]:
    return set(table_rows(engine, change_log, consumer_id, "entity", "entity_key", "action", run_id=run_id))
