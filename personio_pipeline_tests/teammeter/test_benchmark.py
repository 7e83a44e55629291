"""Timings of a 100,000-employee company (opt-in: TEAMMETER_BENCHMARK=1; prints, asserts nothing
but correctness). Compares the first sync with a plain bulk insert of the same store rows."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from personio_pipeline.model.schema import EMPLOYEE_COLUMNS
from personio_pipeline.teammeter.diff import OrgModel
from personio_pipeline.teammeter.schema import reporting_lines, roles, team_memberships, teams, units, user_roles, users
from personio_pipeline.teammeter.sync import sync_company
from personio_pipeline_tests.teammeter.conftest import register

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
    """The reference: the same rows in one executemany per table, no diff, no change log."""
    org, e = {"organisation_id": organisation_id, "source": "hr"}, model.employees
    with engine.begin() as conn:
        conn.execute(
            units.insert(), [{**org, "unit_key": k, "name": n} for k, n in zip(model.units.unit_key, model.units.name)]
        )
        unit_ids = dict(conn.execute(sa.select(units.c.unit_key, units.c.id)).all())
        conn.execute(
            teams.insert(),
            [
                {**org, "team_key": k, "name": n, "unit_id": unit_ids[u]}
                for k, n, u in zip(model.teams.team_key, model.teams.name, model.teams.unit_key)
            ],
        )
        conn.execute(
            roles.insert(), [{**org, "role_key": k, "name": n} for k, n in zip(model.roles.role_key, model.roles.name)]
        )
        team_ids = dict(conn.execute(sa.select(teams.c.team_key, teams.c.id)).all())
        role_ids = dict(conn.execute(sa.select(roles.c.role_key, roles.c.id)).all())
        conn.execute(
            users.insert(),
            [
                {
                    "organisation_id": organisation_id,
                    "employee_id": i,
                    "display_name": d,
                    "first_name": f,
                    "last_name": l,
                    "unit_id": unit_ids[u],
                    "email": m,
                    "email_source": "hr",
                    "hr_email": m,
                    "has_access": True,
                }
                for i, d, f, l, u, m in zip(
                    e.employee_id, e.display_name, e.first_name, e.last_name, e.unit_key, e.email
                )
            ],
        )
        user_ids = dict(conn.execute(sa.select(users.c.employee_id, users.c.id)).all())
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        conn.execute(
            team_memberships.insert(),
            [
                {**org, "user_id": user_ids[i], "team_id": team_ids[t], "started_at": now}
                for i, t in zip(e.employee_id, e.team_key)
            ],
        )
        conn.execute(
            user_roles.insert(),
            [
                {**org, "user_id": user_ids[i], "role_id": role_ids[r], "started_at": now}
                for i, r in zip(e.employee_id, e.role_key)
            ],
        )
        lines = model.reporting_lines
        conn.execute(
            reporting_lines.insert(),
            [
                {**org, "user_id": user_ids[i], "manager_user_id": user_ids[m], "started_at": now}
                for i, m in zip(lines.employee_id, lines.manager_id)
            ],
        )


def test_first_sync_and_noop_of_100k(engine):
    model = big_model()
    register(engine, "bulk")
    with engine.connect() as conn:
        bulk_id = conn.execute(sa.text("SELECT id FROM organisations WHERE consumer_id = 'bulk'")).scalar_one()
    started = time.perf_counter()
    plain_bulk_insert(engine, model, bulk_id)
    plain = time.perf_counter() - started

    register(engine, "big")
    started = time.perf_counter()
    first = sync_company(engine, "big", model, run_id="first")
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = sync_company(engine, "big", model, run_id="again")
    noop_seconds = time.perf_counter() - started
    print(
        f"\n[{engine.dialect.name}] plain bulk insert {plain:.2f}s; first sync {first_seconds:.2f}s "
        f"({first_seconds / plain:.2f}x, {first.rows_written} rows incl. change log); no-op re-sync {noop_seconds:.2f}s"
    )
    assert again.rows_written == 0
