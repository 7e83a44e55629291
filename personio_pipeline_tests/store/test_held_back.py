"""One bad record never stops a company (SQLite and PostgreSQL): people with a shared address or
on a management cycle are held back on their own, leavers are always deactivated, nameless
structures get a fallback name, and only company-wide anomalies stop the run."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from personio_pipeline.org.employees import normalise_employees
from personio_pipeline.org.structure import derive_reporting_lines, derive_roles, derive_teams, derive_units
from personio_pipeline.reporting.review import review_summary, review_users
from personio_pipeline.store.diff import OrgModel
from personio_pipeline.store.safeguard import SafeguardError
from personio_pipeline.store.schema import held_back_records, team_memberships, teams, units, users
from personio_pipeline.store.sync import sync_company
from personio_pipeline_tests.support.people import day_one, logged, replaced, sync
from personio_pipeline_tests.support.people import person as someone
from personio_pipeline_tests.support.records import person as record
from personio_pipeline_tests.support.stores import dump, register, table_rows

TODAY = date(2026, 11, 29)


def model_of(records: list[dict]) -> OrgModel:
    """The organisation model the model layer builds from these raw Apideck records."""
    table = normalise_employees(records, TODAY).table
    return OrgModel(table, derive_teams(table), derive_units(table), derive_roles(table),
                    derive_reporting_lines(table).lines)


def user(engine, employee_id: str, consumer_id: str = "acme"):
    return dict(zip(
        ("display_name", "email", "active", "has_access"),
        table_rows(engine, users, consumer_id, "display_name", "email", "active", "has_access",
                   employee_id=employee_id)[0],
    ))


def open_held(engine, consumer_id: str = "acme") -> list[tuple]:
    return table_rows(engine, held_back_records, consumer_id, "employee_id", "problem", "field", "detail",
                      released_at=None)


def teams_of(engine, employee_id: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(
            sa.select(teams.c.name)
            .join(team_memberships, team_memberships.c.team_id == teams.c.id)
            .join(users, users.c.id == team_memberships.c.user_id)
            .where(users.c.employee_id == employee_id, team_memberships.c.ended_at.is_(None))
        ).scalars())


def test_a_shared_address_holds_back_the_pair_and_the_leaver_is_deactivated(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    before_2, before_3 = user(engine, "2"), user(engine, "3")
    day_two = [
        replaced(p, email="3@acme.test", name="Ben Renamed", team="Mobile") if p.employee_id == "2"  # copy-paste
        else replaced(p, status="terminated") if p.employee_id == "8"  # leaver
        else replaced(p, name="Finn Fuchs") if p.employee_id == "6"  # an unrelated change
        else p
        for p in day_one()
    ]
    result = sync(engine, day_two, "day-2")

    assert user(engine, "8")["active"] is False and user(engine, "8")["has_access"] is False, "the leaver is out"
    assert user(engine, "2") == before_2 and user(engine, "3") == before_3, "the pair keeps its previous state"
    assert teams_of(engine, "2") == ["Platform"], "including their team"
    assert user(engine, "6")["display_name"] == "Finn Fuchs", "everything else is applied"
    assert open_held(engine) == [
        ("2", "duplicate_email", "email", "address shared with 3"),
        ("3", "duplicate_email", "email", "address shared with 2"),
    ]
    assert {("user", "2", "hold_back"), ("user", "3", "hold_back"), ("user", "8", "deactivate")} <= logged(engine, "day-2")
    assert result.counts["user"]["hold_back"] == 2
    assert list(result.held_back["employee_id"]) == ["2", "3"]
    with engine.connect() as conn:
        marks = {row["employee_id"]: row["held_back"] for row in review_users(conn, "acme")}
        assert marks["2"] == "duplicate_email (email): address shared with 3" and marks["1"] == ""
        assert review_summary(conn, "acme")["held_back"] == 2

    assert sync(engine, day_two, "day-2-again", full_sync=True).rows_written == 0, "re-runs write nothing"

    fixed = [replaced(p, email="2@acme.test") if p.employee_id == "2" else p for p in day_two]
    sync(engine, fixed, "day-3")
    assert open_held(engine) == [], "a fixed record is released"
    assert user(engine, "2")["display_name"] == "Ben Renamed" and teams_of(engine, "2") == ["Mobile"]
    assert {("user", "2", "release"), ("user", "3", "release"), ("user", "2", "update")} <= logged(engine, "day-3")


def test_a_management_cycle_holds_back_its_people_and_the_hire_is_created(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    before_1 = user(engine, "1")
    hire = someone("10", name="Jo Jung", team="Mobile", unit="Engineering", role="Software Engineer", manager="1")
    day_two = [replaced(p, manager="2", name="Ada Looped") if p.employee_id == "1" else p for p in day_one()] + [hire]
    sync(engine, day_two, "day-2")

    assert user(engine, "10") == {"display_name": "Jo Jung", "email": "10@acme.test", "active": True, "has_access": True}
    assert user(engine, "1") == before_1
    assert [row[:3] for row in open_held(engine)] == [("1", "management_cycle", "manager"),
                                                      ("2", "management_cycle", "manager")]
    assert open_held(engine)[0][3] == "1 → 2 → 1"
    assert ("reporting_line", "10|1", "create") in logged(engine, "day-2"), "the hire reports to a held-back manager"


def test_new_people_held_back_are_created_without_address_or_access(engine):
    register(engine)
    people = [someone("1", team="A"), someone("2", team="A", email="1@acme.test"), someone("3", team="A")]
    sync(engine, people, "day-1")
    assert [user(engine, i)["has_access"] for i in ("1", "2", "3")] == [False, False, True]
    assert [user(engine, i)["email"] for i in ("1", "2")] == [None, None]
    assert teams_of(engine, "2") == ["A"], "they are in their team, visible to the customer"


def test_what_a_held_back_user_points_to_stays_active(engine):
    register(engine)
    sync(engine, [someone("1", team="Solo", unit="Lab", role="Hermit"), someone("2", team="A")], "day-1")
    moved = [someone("1", team="Elsewhere", unit="Other", role="Other", email="2@acme.test"), someone("2", team="A")]
    sync(engine, moved, "day-2")
    assert table_rows(engine, teams, "acme", "name", active=True) == [("A",), ("Solo",)]
    assert table_rows(engine, units, "acme", "name", active=True) == [("Lab",)]


def test_a_nameless_team_gets_a_fallback_name_that_never_overwrites_a_name(engine):
    register(engine)
    records = [record("1", "Ada", "A", email="ada@acme.example", team=("4711", None)),
               record("2", "Bob", "B", email="bob@acme.example", team=("t1", "Platform"))]
    sync_company(engine, "acme", model_of(records), run_id="day-1")
    assert table_rows(engine, teams, "acme", "team_key", "name") == [("4711", "Team 4711"), ("t1", "Platform")]
    assert teams_of(engine, "1") == ["Team 4711"], "its members still have a team"

    with engine.begin() as conn:  # the customer renames it in Teammeter
        conn.execute(sa.update(teams).where(teams.c.team_key == "4711").values(name="Growth"))
    records[1] = record("2", "Bob", "B", email="bob@acme.example", team=("t1", None))  # HR loses a name
    sync_company(engine, "acme", model_of(records), run_id="day-2", full_sync=True)
    assert table_rows(engine, teams, "acme", "team_key", "name") == [("4711", "Growth"), ("t1", "Platform")]


def test_many_new_problems_at_once_stop_the_company_until_approved(engine):
    register(engine)
    people = [someone(str(n), team="A") for n in range(1, 101)]
    sync(engine, people, "day-1")
    before = dump(engine)
    broken = [replaced(p, email="shared@acme.test") if int(p.employee_id) <= 11 else p for p in people]
    with pytest.raises(SafeguardError, match="11 of 100 active people") as refused:
        sync(engine, broken, "day-2")
    assert refused.value.employee_ids == [str(n) for n in range(1, 12)] and refused.value.fields == ["email"]
    assert dump(engine) == before, "nothing was written"

    sync(engine, broken, "day-2-approved", max_held_back_share=0.2)
    assert len(open_held(engine)) == 11
    sync(engine, broken, "day-3", full_sync=True)  # already held back: not new, no stop


def test_ten_people_held_back_never_stop_a_company(engine):
    register(engine)
    people = [someone(str(n), team="A", email="same@acme.test" if n <= 10 else "default") for n in range(1, 21)]
    assert sync(engine, people, "day-1").counts["user"]["hold_back"] == 10
