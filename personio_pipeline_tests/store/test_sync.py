"""The sync against a real database (SQLite and PostgreSQL): first sync, day two, idempotency,
tenancy, all-or-nothing writes and company locking."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.store.diff import ModelError
from personio_pipeline.store.schema import (
    change_log,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    units,
    user_roles,
    users,
)
from personio_pipeline.store.sync import STAGES, sync_company
from personio_pipeline_tests.support.people import (
    DAY_TWO_CHANGES,
    day_one,
    day_one_evening,
    day_two,
    logged,
    org_model,
    person,
    sync,
)
from personio_pipeline_tests.support.stores import dump, register, table_rows


def open_links(engine, table, *columns, consumer_id="acme"):
    return table_rows(engine, table, consumer_id, *columns, ended_at=None)


def test_first_sync_creates_users_structure_and_links(engine):
    register(engine)
    result = sync(engine, day_one(), "day-1")

    assert table_rows(
        engine, users, "acme", "employee_id", "display_name", "email", "email_source", "active", "has_access"
    ) == [
        ("1", "Ada Admin", "1@acme.test", "hr", True, True),
        ("2", "Ben Bauer", "2@acme.test", "hr", True, True),
        ("3", "Cleo Cruz", "3@acme.test", "hr", True, True),
        ("4", "Dan Dahl", "4@acme.test", "hr", True, True),
        ("5", "Eve Ek", None, None, True, False),  # no email: created without access
        ("6", "Finn Fox", "6@acme.test", "hr", True, True),
        ("8", "Hana Holm", "8@acme.test", "hr", True, True),
        ("9", "Ivo Iver", "9@acme.test", "hr", True, True),
    ]  # Gus (7) left before: no user
    assert table_rows(engine, units, "acme", "unit_key", "name", "source") == [
        ("name:engineering", "Engineering", "hr"),
        ("name:sales", "Sales", "hr"),
    ]
    assert table_rows(engine, teams, "acme", "team_key", "name", "source", "active") == [
        ("name:mobile", "Mobile", "hr", True),
        ("name:platform", "Platform", "hr", True),
        ("name:sales team", "Sales Team", "hr", True),
    ]
    assert table_rows(engine, roles, "acme", "role_key", "name") == [
        ("account executive", "Account Executive"),
        ("engineering manager", "Engineering Manager"),
        ("sales lead", "Sales Lead"),
        ("software engineer", "Software Engineer"),
    ]
    assert len(open_links(engine, team_memberships, "id")) == 8
    assert len(open_links(engine, user_roles, "id")) == 8
    assert len(open_links(engine, reporting_lines, "id")) == 6
    assert result.counts["user"] == {"create": 8}
    # rows + one change-log entry per table: a first import counts its creations (store/sync.py)
    assert result.rows_written == (2 + 3 + 4 + 8 + 8 + 8 + 6) + 7
    with engine.connect() as conn:
        org = registry.get(conn, "acme")
    assert org.first_synced_at is not None and org.last_synced_at is not None


def test_users_carry_their_unit_and_teams_their_unit(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    query = (
        sa.select(teams.c.team_key, units.c.unit_key)
        .join(units, units.c.id == teams.c.unit_id)
        .order_by(teams.c.team_key)
    )
    with engine.connect() as conn:
        assert conn.execute(query).all() == [
            ("name:mobile", "name:engineering"),
            ("name:platform", "name:engineering"),
            ("name:sales team", "name:sales"),
        ]
        unit_of_eve = conn.execute(
            sa.select(units.c.unit_key).join(users, users.c.unit_id == units.c.id).where(users.c.employee_id == "5")
        ).scalar_one()
    assert unit_of_eve == "name:sales"


def test_day_two_changes_exactly_what_happened(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_one_evening(), "evening")
    ids_before = dict(table_rows(engine, users, "acme", "employee_id", "id"))

    result = sync(engine, day_two(), "day-2")

    assert logged(engine, "day-2") == DAY_TWO_CHANGES
    assert sum(n for actions in result.counts.values() for n in actions.values()) == len(DAY_TWO_CHANGES)
    ids_after = dict(table_rows(engine, users, "acme", "employee_id", "id"))
    assert {k: ids_after[k] for k in ids_before} == ids_before  # Ivo reactivated, not duplicated
    assert table_rows(engine, users, "acme", "active", "has_access", employee_id="8") == [(False, False)]
    assert table_rows(engine, users, "acme", "active", "has_access", "deactivated_at", employee_id="9") == [
        (True, True, None)
    ]
    assert table_rows(engine, roles, "acme", "role_key", "active") == [
        ("account executive", False),
        ("account manager", True),
        ("engineering manager", True),
        ("sales lead", True),
        ("software engineer", True),
    ]

    # History stays: Dan's Mobile membership is ended, not deleted, and Platform is open.
    dan = ids_after["4"]
    memberships = table_rows(engine, team_memberships, "acme", "team_id", "ended_at", user_id=dan)
    team_ids = dict(table_rows(engine, teams, "acme", "team_key", "id"))
    assert sorted((tid, ended is None) for tid, ended in memberships) == sorted(
        [(team_ids["name:mobile"], False), (team_ids["name:platform"], True)]
    )
    # Hana: everything HR gave her has ended, nothing was deleted.
    hana = ids_after["8"]
    for table in (team_memberships, user_roles, reporting_lines):
        assert len(table_rows(engine, table, "acme", "id", user_id=hana)) == 1
        assert table_rows(engine, table, "acme", "id", user_id=hana, ended_at=None) == []
    # Cleo now reports to Ben; the line to Ada is history.
    lines = table_rows(engine, reporting_lines, "acme", "manager_user_id", "ended_at", user_id=ids_after["3"])
    assert sorted((m, e is None) for m, e in lines) == sorted([(ids_after["1"], False), (ids_after["2"], True)])


def test_deactivation_and_reactivation_are_logged_with_fields(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_one_evening(), "evening")
    sync(engine, day_two(), "day-2")
    query = sa.select(change_log.c.entity_key, change_log.c.action, change_log.c.before, change_log.c.after).where(
        change_log.c.entity == "user", change_log.c.run_id.in_(["evening", "day-2"])
    )
    with engine.connect() as conn:
        entries = {(row.entity_key, row.action): (row.before, row.after) for row in conn.execute(query)}
    assert entries[("9", "deactivate")] == (
        {"active": True, "has_access": True},
        {"active": False, "has_access": False},
    )
    assert entries[("9", "reactivate")] == (
        {"active": False, "has_access": False},
        {"active": True, "has_access": True},
    )
    assert entries[("10", "create")][0] is None
    assert entries[("10", "create")][1]["email"] == "10@acme.test"


@pytest.mark.parametrize("full_sync", [False, True], ids=["diff-skipped", "full-diff"])
def test_immediate_rerun_writes_nothing(engine, full_sync):
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_two(), "day-2")
    before = dump(engine)

    again = sync(engine, day_two(), "day-2-again", full_sync=full_sync)

    assert again.diff_skipped is not full_sync

    assert again.rows_written == 0
    assert again.counts == {}
    after = dump(engine)
    # Only the organisation's last_synced_at moves and the attempt is recorded in sync_runs
    # (bookkeeping, not counted as data writes).
    bookkeeping = ("organisations", "sync_runs")
    assert {k: v for k, v in after.items() if k not in bookkeeping} == {
        k: v for k, v in before.items() if k not in bookkeeping
    }
    assert len(after["sync_runs"]) == len(before["sync_runs"]) + 1
    assert "Creates: 0" in again.preview_markdown()


def test_two_companies_with_the_same_employee_ids_stay_apart(engine):
    register(engine, "acme", "ACME GmbH")
    register(engine, "globex", "Globex AG")
    sync(engine, day_one(), "acme-1")
    globex = [person("1", name="Gloria Globex", team="Platform", unit="Engineering"), person("2", name="Gil Globex")]
    sync(engine, globex, "globex-1", consumer_id="globex")

    sync(engine, day_two(), "acme-2")  # Hana (8) leaves ACME; globex has no 8 but has 1 and 2

    assert table_rows(engine, users, "globex", "employee_id", "display_name", "active") == [
        ("1", "Gloria Globex", True),
        ("2", "Gil Globex", True),
    ]
    assert table_rows(engine, users, "acme", "display_name", employee_id="1") == [("Ada Admin",)]
    assert len(table_rows(engine, teams, "globex", "id")) == 1
    assert len(table_rows(engine, teams, "acme", "team_key", team_key="name:platform")) == 1
    assert logged(engine, "acme-2", consumer_id="globex") == set()
    assert sync(engine, globex, "globex-2", consumer_id="globex", full_sync=True).rows_written == 0


@pytest.mark.parametrize("stage", STAGES)
def test_failure_anywhere_leaves_no_trace(engine, stage):
    register(engine)
    sync(engine, day_one(), "day-1")
    before = dump(engine)

    def fail(reached: str) -> None:
        if reached == stage:
            raise RuntimeError(f"injected failure after {stage}")

    with pytest.raises(RuntimeError, match="injected failure"):
        sync(engine, day_two(), "day-2", after_stage=fail)

    assert dump(engine) == before
    assert sync(engine, day_two(), "day-2").counts  # and the company still syncs afterwards


def test_first_sync_failure_leaves_an_empty_store(engine):
    register(engine)
    before = dump(engine)

    def fail(reached: str) -> None:
        if reached == "team_membership":
            raise RuntimeError("injected")

    with pytest.raises(RuntimeError):
        sync(engine, day_one(), "day-1", after_stage=fail)
    assert dump(engine) == before


def test_concurrent_syncs_of_one_company_do_not_interleave(engine):
    register(engine)
    first_holds_lock = threading.Event()
    results, errors = [], []

    def slow(stage: str) -> None:
        if stage == "unit":
            first_holds_lock.set()
            time.sleep(0.5)

    def run(run_id, hook=None):
        try:
            results.append(sync(engine, day_one(), run_id, after_stage=hook).rows_written)
        except Exception as error:  # surfaced below with the other thread's result
            errors.append(error)

    first = threading.Thread(target=run, args=("first", slow))
    first.start()
    assert first_holds_lock.wait(10)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    first.join(30)
    second.join(30)

    assert errors == []
    # In the order they finished: the first wrote, the second waited for its commit and saw its rows.
    assert results[0] > 0 and results[1] == 0
    assert len(table_rows(engine, users, "acme", "id")) == 8


def test_unknown_company_is_refused(engine):
    with pytest.raises(UnknownCompanyError, match="nobody"):
        sync_company(engine, "nobody", org_model(day_one()), run_id="r")


def test_model_breaking_its_contract_is_refused_before_writing(engine):
    register(engine)
    model = org_model(day_one())
    broken = model.employees.copy()
    broken.loc[0, "team_key"] = "name:ghost"
    before = dump(engine)
    with pytest.raises(ModelError, match="name:ghost"):
        sync_company(
            engine,
            "acme",
            type(model)(broken, model.teams, model.units, model.roles, model.reporting_lines),
            run_id="r",
        )
    assert dump(engine) == before


def test_preview_lists_changes_per_section_with_totals(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_one_evening(), "evening")
    preview = sync(engine, day_two(), "day-2").preview_markdown()

    assert "| **total** | 11 | 0 | 2 | 6 | 1 | 0 |" in preview
    assert "### Creates: 11" in preview
    assert "### Deactivations: 8" in preview  # 2 deactivations + 6 ended links
    assert "### Reactivations: 1" in preview
    assert "| user | 9 | reactivate | active: False, has_access: False | active: True, has_access: True |" in preview


def test_preview_shows_at_most_fifty_rows_per_section(engine):
    register(engine)
    people = [person(str(i), team="Crowd", unit="Everyone", role="Member") for i in range(1, 61)]
    preview = sync(engine, people, "crowd").preview_markdown()
    creates = preview.split("### Creates")[1].split("###")[0]
    assert creates.count("| create |") == 50
    assert "… and 133 more" in creates  # 3 structures + 60 users + 120 links - 50 shown
