"""An unknown HR status (Apideck's `other`, e.g. a Personio leave) by the company's policy, on
SQLite and PostgreSQL: under `keep` (the default) a leave keeps the account, its access, teams,
roles and reporting lines, and a new person gets an account without access; under `deactivate`
the account is deactivated; an end date in the past ends the employment whatever the policy."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.companies import registry
from personio_pipeline.reporting.review import review_users
from personio_pipeline.store.schema import change_log, reporting_lines, team_memberships, users
from personio_pipeline.store.statuses import apply_policy
from personio_pipeline_tests.support.people import org_model, person, replaced, sync
from personio_pipeline_tests.support.stores import register, table_rows

HOSTILE = "Zoë '); DROP TABLE users;-- <b>Łukasz</b>"
LEAD = person("1", name="Lena Lead", email="lead@acme-gmbh.de", team="Platform", role="Lead")
ZOE = person("2", name=HOSTILE, email="zoe@acme-gmbh.de", team="Platform", role="Engineer", manager="1")


def account(engine, employee_id: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(users).where(users.c.employee_id == employee_id)).one()._mapping)


def open_links(engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.ended_at.is_(None))).scalar()


def set_policy(engine, policy: str) -> None:
    with engine.begin() as conn:
        registry.set_unknown_status(conn, "acme", policy)


def test_a_leave_keeps_the_account_its_access_teams_and_lines_under_the_default(engine):
    register(engine)
    sync(engine, [LEAD, ZOE], "day-1")
    before = account(engine, "2")
    result = sync(engine, [LEAD, replaced(ZOE, status="unknown")], "day-2")  # HR: `other` (on leave)
    after = account(engine, "2")
    assert (after["id"], after["active"], after["has_access"]) == (before["id"], True, True)
    assert (after["display_name"], after["hr_status"], before["hr_status"]) == (HOSTILE, "unknown", "active")
    assert open_links(engine, team_memberships) == 2 and open_links(engine, reporting_lines) == 1
    assert result.unknown_status == {"kept": 1, "without_access": 0}
    assert table_rows(engine, change_log, "acme", "action", "before", "after", run_id="day-2") == [
        ("update", {"hr_status": "active"}, {"hr_status": "unknown"})]
    (row,) = [r for r in review_users_of(engine) if r["employee_id"] == "2"]
    assert row["note"] == "kept on an unknown HR status (company policy: keep)"
    sync(engine, [LEAD, ZOE], "day-3")  # back from leave: active again, nothing else changed
    assert account(engine, "2")["hr_status"] == "active" and open_links(engine, team_memberships) == 2


def test_a_new_person_with_an_unknown_status_gets_an_account_without_access(engine):
    register(engine)
    result = sync(engine, [LEAD, replaced(ZOE, status="unknown")], "day-1")
    new = account(engine, "2")
    assert (new["active"], new["has_access"], new["hr_status"]) == (True, False, "unknown")
    assert open_links(engine, team_memberships) == 2 and open_links(engine, reporting_lines) == 1
    assert result.unknown_status == {"kept": 1, "without_access": 1}
    sync(engine, [LEAD, ZOE], "day-2")  # HR says active: access, and so an invitation once verified
    assert account(engine, "2")["has_access"] is True


def test_under_deactivate_a_leave_deactivates_the_account_and_ends_its_links(engine):
    register(engine)
    set_policy(engine, "deactivate")
    sync(engine, [LEAD, ZOE], "day-1")
    result = sync(engine, [LEAD, replaced(ZOE, status="unknown")], "day-2", approve_deactivations=True)
    gone = account(engine, "2")
    assert (gone["active"], gone["has_access"]) == (False, False)
    assert open_links(engine, team_memberships) == 1 and open_links(engine, reporting_lines) == 0
    assert result.unknown_status == {"deactivated": 1}


def test_a_leave_counts_for_the_safeguard_under_deactivate_only(engine):
    from personio_pipeline.store.safeguard import SafeguardError

    register(engine)
    people = [person(str(n), team="Ops") for n in range(1, 5)]
    sync(engine, people, "day-1")
    on_leave = [replaced(p, status="unknown") for p in people[:3]] + people[3:]
    sync(engine, on_leave, "day-2")  # keep: nobody leaves, nothing to refuse
    set_policy(engine, "deactivate")
    with pytest.raises(SafeguardError, match="3 of 4 active users"):
        sync(engine, on_leave, "day-3")


def test_an_end_date_in_the_past_ends_the_employment_whatever_the_policy():
    from personio_pipeline.org.employees import normalise_employees

    records = [{"id": "1", "employment_status": "other", "employment_end_date": "2026-01-31"},
               {"id": "2", "employment_status": "other", "employment_end_date": "2026-12-31"},
               {"id": "3"}]
    table = normalise_employees(records, date(2026, 3, 1)).table
    assert list(table["status"]) == ["terminated", "unknown", "unknown"]
    model = org_model([person("1", status="terminated"), person("2", status="unknown"), person("3")])
    kept = apply_policy(model, "keep")
    assert list(kept.model.employees["status"]) == ["terminated", "active", "active"]
    assert list(kept.model.employees["hr_status"]) == ["active", "unknown", "active"]
    assert kept.people == ("2",) and kept.without_access({"2"}) == set() and kept.without_access(set()) == {"2"}
    dropped = apply_policy(model, "deactivate")
    assert list(dropped.model.employees["status"]) == ["terminated", "inactive", "active"]


def test_the_start_date_is_on_the_account(engine):
    register(engine)
    model = org_model([LEAD, ZOE])
    model.employees.loc[model.employees["employee_id"] == "2", "start_date"] = pd.Timestamp("2024-02-29")
    from personio_pipeline.store.sync import sync_company

    sync_company(engine, "acme", model, run_id="day-1", now=datetime(2026, 3, 2, tzinfo=timezone.utc))
    assert account(engine, "2")["starts_on"] == date(2024, 2, 29) and account(engine, "1")["starts_on"] is None
    (row,) = [r for r in review_users_of(engine) if r["employee_id"] == "2"]
    assert row["starts_on"] == "2024-02-29"


def test_tenants_set_unknown_status_timezone_and_sync_hour(engine, monkeypatch, tmp_path):
    register(engine)
    monkeypatch.setenv("TEAMMETER_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    runner = CliRunner()
    out = runner.invoke(main, ["tenants", "set", "acme", "--unknown-status", "deactivate", "--timezone",
                               "Europe/Berlin", "--sync-hour", "5"])
    assert out.exit_code == 0, out.output
    assert "deactivated" in out.output and "Europe/Berlin, daily sync at 05:00" in out.output
    with engine.connect() as conn:
        company = registry.get(conn, "acme")
    assert (company.unknown_status, company.timezone, company.sync_hour) == ("deactivate", "Europe/Berlin", 5)
    bad = runner.invoke(main, ["tenants", "set", "acme", "--timezone", "Mars/Olympus"])
    assert bad.exit_code != 0 and "Company 'acme'" in bad.output and "IANA name" in bad.output
    bad = runner.invoke(main, ["tenants", "set", "acme", "--unknown-status", "archive"])
    assert bad.exit_code != 0 and "keep" in bad.output


def review_users_of(engine) -> list[dict]:
    with engine.connect() as conn:
        return review_users(conn, "acme")
