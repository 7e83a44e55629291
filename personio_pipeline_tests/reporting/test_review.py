"""The review export: rows per user, summary counts, table / JSON / CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.reporting.review import COLUMNS, format_review, review_summary, review_users
from personio_pipeline.store import hand_edits
from personio_pipeline.store.schema import invitations, users
from personio_pipeline_tests.support.people import day_one, day_one_evening, sync
from personio_pipeline_tests.support.stores import register


@pytest.fixture
def reviewed(engine):
    """ACME after day one and Ivo's leaving, with a hand-made guild and Ada invited."""
    register(engine)
    sync(engine, day_one(), "day-1")
    sync(engine, day_one_evening(), "evening")
    with engine.begin() as conn:
        guild = hand_edits.create_team(conn, "acme", "Guild")
        hand_edits.add_member(conn, "acme", guild, "2")
        hand_edits.add_reporting_line(conn, "acme", "2", "6")
        ada = conn.execute(sa.select(users.c.id, users.c.organisation_id).where(users.c.employee_id == "1")).one()
        conn.execute(
            sa.insert(invitations).values(
                organisation_id=ada.organisation_id, user_id=ada.id, email="1@acme.test", status="sent"
            )
        )
        return review_users(conn, "acme"), review_summary(conn, "acme")


def test_rows_show_each_user_with_sources(reviewed):
    rows, _ = reviewed
    by_id = {row["employee_id"]: row for row in rows}
    assert [row["employee_id"] for row in rows] == ["1", "2", "3", "4", "5", "6", "8", "9"]
    assert isinstance(by_id["1"]["account_id"], int)
    assert by_id["1"] == {
        "employee_id": "1",
        "account_id": by_id["1"]["account_id"],
        "origin": "hr",
        "linked_by": None,
        "registered": False,
        "starts_on": "",
        "name": "Ada Admin",
        "email": "1@acme.test",
        "active": True,
        "has_access": True,
        "team": "Platform",
        "team_source": "hr",
        "unit": "Engineering",
        "role": "Engineering Manager",
        "role_source": "hr",
        "manager_employee_id": "",
        "manager_source": "",
        "invited": True,
        "invitation": "sent",
        "held_back": "",
        "note": "",
    }
    assert (by_id["2"]["team"], by_id["2"]["team_source"]) == ("Platform; Guild", "hr; teammeter")
    assert (by_id["2"]["manager_employee_id"], by_id["2"]["manager_source"]) == ("1; 6", "hr; teammeter")
    assert (by_id["9"]["active"], by_id["9"]["team"], by_id["9"]["invited"], by_id["9"]["invitation"]) == (False, "", False, "")
    assert (by_id["9"]["active"], by_id["9"]["team"], by_id["9"]["invited"]) == (False, "", False)


def test_summary_counts(reviewed):
    _, summary = reviewed
    assert summary == {
        "users": 8,
        "active": 7,
        "with_access": 6,
        "without_email": 1,
        "teams": 4,
        "units": 2,
        "roles": 4,
        "reporting_lines": 6,
        "held_back": 0,
        "invited": 1,
        "outside_hr": 0,
        "linked_accounts": 0,
    }


def test_table_starts_with_the_summary(reviewed):
    rows, summary = reviewed
    text = format_review(rows, summary, "table")
    lines = text.splitlines()
    assert lines[:3] == ["users: 8", "active: 7", "with access: 6"]
    header = lines[len(summary) + 1]
    assert header.split() == list(COLUMNS)
    assert any(line.startswith("5 ") and "Eve Ek" in line for line in lines)
    assert len(lines) == len(summary) + 1 + 2 + len(rows)


def test_json_is_the_list_of_users(reviewed):
    rows, summary = reviewed
    assert json.loads(format_review(rows, summary, "json")) == rows


def test_csv_has_a_header_and_one_line_per_user(reviewed):
    rows, summary = reviewed
    parsed = list(csv.DictReader(io.StringIO(format_review(rows, summary, "csv"))))
    assert list(parsed[0]) == list(COLUMNS)
    assert [row["employee_id"] for row in parsed] == [row["employee_id"] for row in rows]
    assert parsed[1]["team"] == "Platform; Guild"


def test_unknown_format_and_company(reviewed, engine):
    rows, summary = reviewed
    with pytest.raises(ValueError, match="table, json, csv"):
        format_review(rows, summary, "xml")
    with engine.connect() as conn:
        with pytest.raises(UnknownCompanyError):
            review_users(conn, "nobody")
        with pytest.raises(UnknownCompanyError):
            review_summary(conn, "nobody")
