"""Data ownership: what Teammeter made by hand survives HR syncs, and the email rule."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.org.employees import check_email
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.ownership import resolve_email
from personio_pipeline.store.schema import (
    change_log,
    reporting_lines,
    roles,
    team_memberships,
    teams,
    user_roles,
    users,
)
from personio_pipeline_tests.support.people import (
    DAY_TWO_CHANGES,
    day_one,
    day_one_evening,
    day_two,
    logged,
    replaced,
    sync,
)
from personio_pipeline_tests.support.stores import register, table_rows


def manual_edits(engine) -> dict:
    """A role, a team with two members, role assignments, an email and a reporting line."""
    with company_transaction(engine) as conn:
        guild = hand_edits.create_team(conn, "acme", "Platform Guild", unit_key="name:engineering")
        coach_role = hand_edits.create_role(conn, "acme", "Scrum Master")
        return {
            "team": guild,
            "role": coach_role,
            "members": [hand_edits.add_member(conn, "acme", guild, "2"), hand_edits.add_member(conn, "acme", guild, "8")],
            "assignments": [
                hand_edits.assign_role(conn, "acme", "2", coach_role),
                hand_edits.assign_role(conn, "acme", "8", coach_role),
            ],
            "email": hand_edits.set_email(conn, "acme", "5", " Eve.Ek@Example.com "),
            "line": hand_edits.add_reporting_line(conn, "acme", "4", "6"),
        }


def teammeter_rows(engine) -> dict:
    return {
        table.name: table_rows(engine, table, "acme", *columns, source="teammeter")
        for table, columns in (
            (teams, ("id", "name", "active", "unit_id")),
            (roles, ("id", "name", "active")),
            (team_memberships, ("id", "team_id", "user_id", "ended_at")),
            (user_roles, ("id", "user_id", "role_id", "ended_at")),
            (reporting_lines, ("id", "user_id", "manager_user_id", "ended_at")),
        )
    }


def test_manual_additions_survive_day_two_unchanged(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_one_evening(), "evening")
    made = manual_edits(engine)
    before = teammeter_rows(engine)

    sync(engine, day_two(), "day-2")

    assert logged(engine, "day-2") == DAY_TWO_CHANGES  # HR changes apply exactly as without edits
    assert teammeter_rows(engine) == before  # nothing made by hand was touched...
    assert all(ended is None for *_, ended in before["team_memberships"] + before["user_roles"])
    assert len(before["team_memberships"]) == 2 and len(before["user_roles"]) == 2
    # ...not even for Hana, who left: her Guild membership and coach role stay (the rule says so).
    hana = table_rows(engine, users, "acme", "id", employee_id="8")[0][0]
    assert (made["members"][1], made["team"], hana, None) in before["team_memberships"]
    # Eve's Teammeter email stays, and she can log in although HR has no address for her.
    assert table_rows(engine, users, "acme", "email", "email_source", "has_access", employee_id="5") == [
        ("eve.ek@example.com", "teammeter", True)
    ]
    assert made["email"] == "eve.ek@example.com"
    assert sync(engine, day_two(), "day-2-again", full_sync=True).rows_written == 0


def test_hr_email_for_a_teammeter_address_is_kept_out_and_logged_once(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    with engine.begin() as conn:
        hand_edits.set_email(conn, "acme", "5", "eve@teammeter.example.com")
    hr_gives_eve = [replaced(p, email="eve@acme.example.com") if p.employee_id == "5" else p for p in day_one()]

    sync(engine, hr_gives_eve, "hr-email")

    assert table_rows(engine, users, "acme", "email", "email_source", "hr_email", employee_id="5") == [
        ("eve@teammeter.example.com", "teammeter", "eve@acme.example.com")
    ]
    with engine.connect() as conn:
        entry = conn.execute(sa.select(change_log).where(change_log.c.run_id == "hr-email")).one()
    assert (entry.entity, entry.entity_key, entry.action) == ("user", "5", "conflict_kept_teammeter")
    assert entry.before == {"email": "eve@teammeter.example.com", "email_source": "teammeter", "hr_email": None}
    assert entry.after == {"email": "eve@teammeter.example.com", "hr_email": "eve@acme.example.com"}
    assert sync(engine, hr_gives_eve, "again", full_sync=True).rows_written == 0  # the conflict is logged once
    # HR dropping the address again changes nothing visible: the login stays.
    sync(engine, day_one(), "hr-drops")
    assert table_rows(engine, users, "acme", "email", "has_access", employee_id="5") == [
        ("eve@teammeter.example.com", True)
    ]
    assert logged(engine, "hr-drops") == {("user", "5", "update")}


def test_hr_owned_email_follows_hr_including_removal(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    moved = [replaced(p, email="ben@new.test") if p.employee_id == "2" else p for p in day_one()]
    sync(engine, moved, "new-address")
    assert table_rows(engine, users, "acme", "email", "email_source", "has_access", employee_id="2") == [
        ("ben@new.test", "hr", True)
    ]
    removed = [replaced(p, email=None) if p.employee_id == "2" else p for p in day_one()]
    sync(engine, removed, "removed")
    assert table_rows(engine, users, "acme", "email", "email_source", "has_access", employee_id="2") == [
        (None, None, False)
    ]


def test_person_without_email_gets_access_once_hr_has_one(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    found = [replaced(p, email="eve@acme.example.com") if p.employee_id == "5" else p for p in day_one()]
    sync(engine, found, "found")
    assert table_rows(engine, users, "acme", "email", "email_source", "has_access", employee_id="5") == [
        ("eve@acme.example.com", "hr", True)
    ]


def test_names_follow_hr(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    renamed = [replaced(p, name="Ada Lovelace") if p.employee_id == "1" else p for p in day_one()]
    sync(engine, renamed, "renamed")
    assert table_rows(engine, users, "acme", "display_name", "last_name", employee_id="1") == [
        ("Ada Lovelace", "Lovelace")
    ]
    assert logged(engine, "renamed") == {("user", "1", "update")}


@pytest.mark.parametrize(
    ("current", "source", "last_hr", "new_hr", "expected"),
    [
        (None, None, None, "a@x.test", ("a@x.test", "hr", "a@x.test", False)),
        (None, None, None, None, (None, None, None, False)),
        ("a@x.test", "hr", "a@x.test", "b@x.test", ("b@x.test", "hr", "b@x.test", False)),
        ("a@x.test", "hr", "a@x.test", None, (None, None, None, False)),
        ("t@x.test", "teammeter", None, None, ("t@x.test", "teammeter", None, False)),
        ("t@x.test", "teammeter", None, "h@x.test", ("t@x.test", "teammeter", "h@x.test", True)),
        ("t@x.test", "teammeter", "h@x.test", "h@x.test", ("t@x.test", "teammeter", "h@x.test", False)),
        ("t@x.test", "teammeter", "h@x.test", "t@x.test", ("t@x.test", "teammeter", "t@x.test", False)),
    ],
)
def test_email_rule(current, source, last_hr, new_hr, expected):
    assert tuple(resolve_email(current, source, last_hr, new_hr)) == expected


def test_manual_api_refuses_what_does_not_exist(engine):
    register(engine)
    register(engine, "globex", "Globex AG")
    sync(engine, day_one(), "day-1")
    with engine.begin() as conn:
        globex_team = hand_edits.create_team(conn, "globex", "Elsewhere")
        with pytest.raises(LookupError, match="team"):
            hand_edits.add_member(conn, "acme", globex_team, "1")  # another company's team
        with pytest.raises(LookupError, match="employee id 99"):
            hand_edits.set_email(conn, "acme", "99", "x@y.test")
        with pytest.raises(LookupError, match="unit 'name:nowhere'"):
            hand_edits.create_team(conn, "acme", "Lost", unit_key="name:nowhere")
        with pytest.raises(ValueError, match="not a usable email"):
            hand_edits.set_email(conn, "acme", "5", "not-an-address")
        # A coach-entered international address is kept in the form the model gives HR addresses.
        entered = " ZOË.Łukasz-Nørgaard@Bücher.Example "
        assert hand_edits.set_email(conn, "acme", "4", entered) == check_email(entered)[0] == "zoë.łukasz-nørgaard@bücher.example"
        hand_edits.set_email(conn, "acme", "5", "eve@example.com")
        with pytest.raises(ValueError, match="already the login of employee 5"):
            hand_edits.set_email(conn, "acme", "6", "EVE@example.com")
        with pytest.raises(ValueError, match="own manager"):
            hand_edits.add_reporting_line(conn, "acme", "4", "4")
        with pytest.raises(UnknownCompanyError):
            hand_edits.create_role(conn, "nobody", "Role")


def test_manual_links_are_idempotent_and_verification_is_recorded(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    with engine.begin() as conn:
        role = hand_edits.create_role(conn, "acme", "Coach")
        first = hand_edits.assign_role(conn, "acme", "1", role)
        assert hand_edits.assign_role(conn, "acme", "1", role) == first
        hand_edits.mark_verified(conn, "acme")
    with engine.connect() as conn:
        verified = conn.execute(sa.text("SELECT verified_at FROM organisations WHERE consumer_id = 'acme'")).scalar()
    assert verified is not None
