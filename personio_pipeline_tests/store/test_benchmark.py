"""Timings of a 100,000-employee company (opt-in: TEAMMETER_BENCHMARK=1; prints timings, asserts
only correctness): plain bulk insert of the same store rows vs the first sync, the no-op re-sync
and a day two with 1% movers and 1% leavers. Run with -s to see the numbers."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from personio_pipeline.org.columns import EMPLOYEE_COLUMNS
from personio_pipeline.store.diff import OrgModel
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
from personio_pipeline.store.sync import sync_company
from personio_pipeline_tests.support.stores import register

pytestmark = pytest.mark.skipif(not os.environ.get("TEAMMETER_BENCHMARK"), reason="set TEAMMETER_BENCHMARK=1")

EMPLOYEES, TEAMS, UNITS, ROLES = 100_000, 2_000, 100, 300


def big_model(n: int = EMPLOYEES) -> OrgModel:
    """A company of `n` active people: team i % TEAMS, unit per team, role i % ROLES, a manager tree."""
    ids = np.arange(n)
    employees = pd.DataFrame({c: None for c in EMPLOYEE_COLUMNS}, index=ids)
    employees["employee_id"] = [str(i) for i in ids]
    employees["first_name"] = "First"
    employees["last_name"] = [f"Last{i}" for i in ids]
    employees["display_name"] = [f"First Last{i}" for i in ids]
    employees["email"] = [f"p{i}@big.test" for i in ids]
    employees["status"] = "active"
    team = ids % TEAMS
    employees["team_key"] = [f"t{t}" for t in team]
    employees["unit_key"] = [f"u{t % UNITS}" for t in team]
    employees["role_key"] = [f"r{i % ROLES}" for i in ids]
    employees["manager_id"] = [None] + [str((i - 1) // 10) for i in ids[1:]]
    teams_frame = pd.DataFrame(
        {
            "team_key": [f"t{t}" for t in range(TEAMS)],
            "name": [f"Team {t}" for t in range(TEAMS)],
            "unit_key": [f"u{t % UNITS}" for t in range(TEAMS)],
            "member_count": n // TEAMS,
        }
    )
    units_frame = pd.DataFrame(
        {
            "unit_key": [f"u{u}" for u in range(UNITS)],
            "name": [f"Unit {u}" for u in range(UNITS)],
            "member_count": n // UNITS,
        }
    )
    roles_frame = pd.DataFrame(
        {
            "role_key": [f"r{r}" for r in range(ROLES)],
            "name": [f"Role {r}" for r in range(ROLES)],
            "holder_count": n // ROLES,
        }
    )
    lines = employees.loc[employees["manager_id"].notna(), ["employee_id", "manager_id"]].reset_index(drop=True)
    return OrgModel(employees.reset_index(drop=True), teams_frame, units_frame, roles_frame, lines)


def plain_bulk_insert(engine: sa.Engine, model: OrgModel, organisation_id: int) -> None:
    """The reference: the same store rows, one SQLAlchemy executemany per table; no diff, no
    change log (ids looked up with one SELECT per table)."""
    e, lines, now = model.employees, model.reporting_lines, datetime.now(timezone.utc)
    hr = {"organisation_id": organisation_id, "source": "hr"}

    def insert(table, rows, key=None):
        conn.execute(table.insert(), rows)
        if key:
            return dict(conn.execute(sa.select(table.c[key], table.c.id)).all())

    with engine.begin() as conn:
        unit_ids = insert(units, [{**hr, "unit_key": k, "name": k} for k in model.units.unit_key], "unit_key")
        team_rows = [
            {**hr, "team_key": k, "name": k, "unit_id": unit_ids[u]}
            for k, u in model.teams[["team_key", "unit_key"]].values
        ]
        team_ids = insert(teams, team_rows, "team_key")
        role_ids = insert(roles, [{**hr, "role_key": k, "name": k} for k in model.roles.role_key], "role_key")
        people = e[["employee_id", "display_name", "first_name", "last_name", "unit_key", "email"]].values
        user_ids = insert(
            users,
            [
                {
                    "organisation_id": organisation_id,
                    "employee_id": i,
                    "display_name": name,
                    "first_name": first,
                    "last_name": last,
                    "unit_id": unit_ids[unit],
                    "email": mail,
                    "email_source": "hr",
                    "hr_email": mail,
                    "has_access": True,
                }
                for i, name, first, last, unit, mail in people
            ],
            "employee_id",
        )
        links = [
            (team_memberships, "team_id", zip(e.employee_id, e.team_key.map(team_ids))),
            (user_roles, "role_id", zip(e.employee_id, e.role_key.map(role_ids))),
            (reporting_lines, "manager_user_id", zip(lines.employee_id, lines.manager_id.map(user_ids))),
        ]
        for table, column, pairs in links:
            insert(table, [{**hr, "user_id": user_ids[i], column: int(o), "started_at": now} for i, o in pairs])


def churned(model: OrgModel, share: float = 0.01) -> OrgModel:
    """Day two at scale: `share` of people move team and as many leave."""
    employees = model.employees.copy()
    step = int(1 / share)
    employees.loc[::step, "team_key"] = employees.loc[1::step, "team_key"].to_numpy()[: len(employees.loc[::step])]
    employees.loc[5::step, "status"] = "terminated"
    active = set(employees.loc[employees["status"] == "active", "employee_id"])
    lines = model.reporting_lines
    lines = lines[lines["employee_id"].isin(active) & lines["manager_id"].isin(active)].reset_index(drop=True)
    return OrgModel(employees, model.teams, model.units, model.roles, lines)


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def test_first_sync_noop_and_day_two_of_100k(engine):
    model = big_model()
    register(engine, "bulk")
    register(engine, "big")
    with engine.connect() as conn:
        bulk_id = conn.execute(sa.select(organisations.c.id).where(organisations.c.consumer_id == "bulk")).scalar_one()

    plain, _ = timed(lambda: plain_bulk_insert(engine, model, bulk_id))
    first, result = timed(lambda: sync_company(engine, "big", model, run_id="first"))
    noop, again = timed(lambda: sync_company(engine, "big", model, run_id="again"))
    full_noop, full_again = timed(lambda: sync_company(engine, "big", model, run_id="again-full", full_sync=True))
    day_two, changed = timed(lambda: sync_company(engine, "big", churned(model), run_id="day-2"))
    print(
        f"\n[{engine.dialect.name}] plain bulk insert {plain:.2f}s | first sync {first:.2f}s "
        f"({first / plain:.2f}x, {result.rows_written} rows incl. change log) | no-op {noop:.2f}s "
        f"(diff skipped), {full_noop:.2f}s (full diff) "
        f"| day two {day_two:.2f}s ({changed.rows_written} rows)"
    )
    assert again.rows_written == 0 and again.diff_skipped
    assert full_again.rows_written == 0 and not full_again.diff_skipped
    assert changed.counts["user"] == {"deactivate": 1000}
