"""A customer who used Teammeter before connecting Personio, end to end through the model and
the store on SQLite and PostgreSQL: the sandbox's company with history (`sandbox/history.py`)
over three days, and Teammeter's accounts from before the connection (a third of the people,
half of them signed in, two coaches). No duplicate account, nobody invited twice, coaches
untouched, pre-hires without access, leaves kept, the rehire back on the old account, the
recycled address on a new one."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import sqlalchemy as sa

from personio_pipeline.invitations.eligibility import enqueue_eligible
from personio_pipeline.org.employees import normalise_employees
from personio_pipeline.org.structure import derive_reporting_lines, derive_roles, derive_teams, derive_units
from personio_pipeline.reporting.review import review_users
from personio_pipeline.sandbox import history
from personio_pipeline.sandbox.generator import build_company
from personio_pipeline.store import hand_edits
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.diff import OrgModel
from personio_pipeline.store.schema import invitations, users
from personio_pipeline.store.sync import sync_company
from personio_pipeline_tests.support.stores import register

COMPANY, SIZE = "acme", 150
TODAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 6, tzinfo=timezone.utc)


def model_of(day: int) -> OrgModel:
    employees = normalise_employees(build_company(COMPANY, SIZE, day=day, history=True).records, TODAY).table
    return OrgModel(employees, derive_teams(employees), derive_units(employees), derive_roles(employees),
                    derive_reporting_lines(employees).lines)


def accounts(engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(users).order_by(users.c.id)).all()


def invite(engine) -> int:
    with engine.begin() as conn:
        return enqueue_eligible(conn, COMPANY, NOW)


def test_a_company_with_history_syncs_without_duplicates_or_second_invitations(engine):
    register(engine, COMPANY)
    company = build_company(COMPANY, SIZE, history=True)
    seeded = history.existing_accounts(company)
    with company_transaction(engine) as conn:
        ids = {hand_edits.create_user(conn, COMPANY, a.name, a.email, registered=a.registered): a for a in seeded}
    coaches = {i: a for i, a in ids.items() if a in history.COACHES}
    before = {row.id: row for row in accounts(engine) if row.id in coaches}

    day0 = model_of(0)
    sync_company(engine, COMPANY, day0, run_id="day-0", today=TODAY, now=NOW)
    with engine.begin() as conn:
        hand_edits.mark_verified(conn, COMPANY, now=NOW)
    invited_day0 = invite(engine)
    rows = accounts(engine)
    linked = [r for r in rows if r.id in ids and r.employee_id is not None]
    # Every existing account whose person HR lists as working here now is linked; the accounts of
    # people whose contract has ended by TODAY stay outside HR, as they were.
    working = set(day0.employees.loc[day0.employees["status"] == "active", "employee_id"])
    hr_id_of = dict(zip(ids, company.history_account_ids))  # the accounts in the order they were made
    expected = {account for account, hr_id in hr_id_of.items() if hr_id in working}
    assert {r.id for r in linked} == expected and len(expected) > len(seeded) // 2
    assert all(r.employee_id == hr_id_of[r.id] for r in linked)
    assert all(r.linked_by == "address" and r.origin == "teammeter" for r in linked)
    emails = Counter(r.email for r in rows if r.email)
    assert max(emails.values()) == 1, "one account per address"
    registered = {r.id for r in rows if r.registered}
    with engine.connect() as conn:
        invited = Counter(conn.execute(sa.select(invitations.c.user_id)).scalars())
    assert not registered & set(invited), "a registered account is never invited"
    assert not set(coaches) & set(invited), "coaches are never invited by the sync"
    assert invited_day0 == len(invited)

    pre_hires = [company.records[i]["id"] for i in company.history_pre_hires]
    by_hr_id = {r.employee_id: r for r in rows if r.employee_id}
    for employee_id in pre_hires:
        if employee_id in by_hr_id:  # (one may lack an address and have no account)
            assert by_hr_id[employee_id].has_access is False and by_hr_id[employee_id].starts_on > TODAY
    on_leave = [company.records[i]["id"] for i in company.history_on_leave]
    assert all(by_hr_id[e].active and by_hr_id[e].hr_status == "unknown" for e in on_leave if e in by_hr_id)

    sync_company(engine, COMPANY, model_of(1), run_id="day-1", today=TODAY, now=NOW)
    sync_company(engine, COMPANY, model_of(2), run_id="day-2", today=TODAY, now=NOW)
    invite(engine)
    with engine.connect() as conn:
        invited_twice = [u for u, n in Counter(conn.execute(sa.select(invitations.c.user_id)).scalars()).items() if n > 1]
        review = review_users(conn, COMPANY)
    assert invited_twice == []
    day2 = build_company(COMPANY, SIZE, day=2, history=True)
    former, recycled_from = (day2.records[i] for i in day2.history_leavers)
    rehire, newcomer = day2.records[-2], day2.records[-1]
    rows = {r.id: r for r in accounts(engine)}
    by_hr_id = {r.employee_id: r for r in rows.values() if r.employee_id}
    back = by_hr_id[rehire["id"]]
    (old_account,) = [account for account, hr_id in hr_id_of.items() if hr_id == former["id"]]
    assert (back.id, back.linked_by, back.active) == (old_account, "rehire", True)  # the old account itself
    assert back.registered == ids[old_account].registered  # with its history: signed in or not, as before
    assert former["id"] not in by_hr_id, "the former HR id's account is the rehire's now"
    assert by_hr_id[newcomer["id"]].id != by_hr_id[recycled_from["id"]].id
    assert by_hr_id[recycled_from["id"]].active is False  # the leaver's account stays as it was: deactivated
    assert any("recycled address" in row["note"] for row in review if row["employee_id"] == newcomer["id"])
    for coach_id, row in before.items():
        assert rows[coach_id] == row, "coaches are untouched by every sync"
    # One active account per address; the recycled address is also on the leaver's deactivated account.
    assert max(Counter(r.email for r in rows.values() if r.email and r.active).values()) == 1
    assert by_hr_id[recycled_from["id"]].email == by_hr_id[newcomer["id"]].email
