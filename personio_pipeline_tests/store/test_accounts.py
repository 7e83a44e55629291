"""Accounts Teammeter already has (issue: customers arrive with history), on SQLite and PostgreSQL:
accounts outside HR are never changed, deactivated or invited by the sync; an HR person is linked
to the one account outside HR with their address (case, spaces, IDNA form); a doubtful match
links nobody and gives nobody access; a registered account is never invited; existing installs
migrate with every user an HR account."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.invitations.eligibility import enqueue_eligible
from personio_pipeline.reporting.review import review_summary, review_users
from personio_pipeline.store import hand_edits, linking
from personio_pipeline.store.db import alembic_config, company_transaction, create_engine, migrate
from personio_pipeline.store.schema import change_log, held_back_records, invitations, users
from personio_pipeline_tests.support.people import person, replaced, sync
from personio_pipeline_tests.support.stores import register, table_rows

NOW = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
HOSTILE = "Zoë '); DROP TABLE users;-- <b>Łukasz</b>"


def add_account(engine, email: str, name: str = "Coach Carter", registered: bool = False) -> int:
    with company_transaction(engine) as conn:
        return hand_edits.create_user(conn, "acme", name, email, registered=registered)


def account(engine, account_id: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(users).where(users.c.id == account_id)).one()._mapping)


def employee_ids(engine) -> list[str | None]:
    """Every account's HR id, accounts outside HR (None) last."""
    with engine.connect() as conn:
        ids = conn.execute(sa.select(users.c.employee_id)).scalars().all()
    return sorted(ids, key=lambda value: (value is None, value or ""))


def verify_and_invite(engine) -> int:
    with engine.begin() as conn:
        hand_edits.mark_verified(conn, "acme", now=NOW)
        return enqueue_eligible(conn, "acme", NOW)


def invited_accounts(engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(invitations.c.user_id)).scalars())


def test_coaches_outside_hr_are_never_changed_deactivated_or_invited(engine):
    register(engine)
    coach = add_account(engine, "coach@consulting-partner.de", name=HOSTILE)
    team = [person("1", email="p1@acme-gmbh.de", team="Platform"),
            person("2", email="p2@acme-gmbh.de", team="Platform", manager="1")]
    sync(engine, team, "day-1")
    before = account(engine, coach)
    # HR loses everyone but one: the coach is not counted by the safeguard, nor touched.
    sync(engine, team[:1], "day-2", approve_deactivations=True)
    sync(engine, team[:1], "day-3", full_sync=True)
    after = account(engine, coach)
    assert after == before and after["employee_id"] is None and after["display_name"] == HOSTILE
    assert after["origin"] == "teammeter" and after["active"] and after["has_access"]
    assert verify_and_invite(engine) == 1
    hr_account = table_rows(engine, users, "acme", "id", employee_id="1")[0][0]
    assert invited_accounts(engine) == [hr_account]


def test_the_safeguard_counts_hr_people_only(engine):
    register(engine)
    for n in range(30):  # thirty coaches outside HR do not dilute the share of HR people leaving
        add_account(engine, f"coach{n}@consulting-partner.de", name=f"Coach {n}")
    people = [person(str(n)) for n in range(1, 5)]
    sync(engine, people, "day-1")
    from personio_pipeline.store.safeguard import SafeguardError

    with pytest.raises(SafeguardError, match="3 of 4 active users"):
        sync(engine, people[:1], "day-2")


@pytest.mark.parametrize("hr_address, account_address", [
    ("anna.schmidt@acme-gmbh.de", "Anna.Schmidt@ACME-GmbH.de"),
    ("  anna.schmidt@acme-gmbh.de ", "anna.schmidt@acme-gmbh.de"),
    ("zoë@müller.de", "ZOË@xn--mller-kva.de"),
])
def test_an_existing_account_is_linked_to_the_hr_person_with_its_address(engine, hr_address, account_address):
    register(engine)
    existing = add_account(engine, account_address, name="Anna (Teammeter)", registered=True)
    with company_transaction(engine) as conn:
        guild = hand_edits.create_team(conn, "acme", "Coaching Guild")
    sync(engine, [person("7", name="Anna Schmidt", email=hr_address, team="Platform")], "day-1")
    with company_transaction(engine) as conn:  # a Teammeter edit on the linked account survives
        hand_edits.add_member(conn, "acme", guild, "7")
    sync(engine, [person("7", name="Anna Schmidt", email=hr_address, team="Platform")], "day-2", full_sync=True)
    linked = account(engine, existing)
    assert (linked["employee_id"], linked["linked_by"], linked["registered"]) == ("7", "address", True)
    assert (linked["origin"], linked["active"], linked["display_name"]) == ("teammeter", True, "Anna Schmidt")
    assert linked["email"] == account_email(account_address)  # the login stays as Teammeter had it
    assert len(table_rows(engine, users, "acme", "id")) == 1  # no second account
    assert ("user", "7", "link") in set(table_rows(engine, change_log, "acme", "entity", "entity_key", "action"))
    assert verify_and_invite(engine) == 0  # registered: never invited
    row = next(r for r in review(engine) if r["employee_id"] == "7")
    assert (row["account_id"], row["origin"], row["linked_by"], row["registered"]) == (
        existing, "teammeter", "address", True)
    assert row["team"].count("Coaching Guild") == 1 and "Platform" in row["team"]


def account_email(address: str) -> str:
    from personio_pipeline.org.employees import check_email

    return check_email(address)[0]


def test_an_account_invited_before_the_link_is_not_invited_again(engine):
    register(engine)
    existing = add_account(engine, "ben@acme-gmbh.de", name="Ben")
    with engine.begin() as conn:  # Teammeter invited Ben before Personio was connected
        conn.execute(sa.insert(invitations).values(organisation_id=1, user_id=existing, email="ben@acme-gmbh.de",
                                                   status="sent", sent_at=NOW))
    sync(engine, [person("8", name="Ben", email="ben@acme-gmbh.de"), person("9", email="p9@acme-gmbh.de")], "day-1")
    assert verify_and_invite(engine) == 1
    assert len(table_rows(engine, invitations, "acme", "id")) == 2
    assert account(engine, existing)["employee_id"] == "8"


def test_a_doubtful_match_links_nobody_and_gives_nobody_access_until_it_is_fixed(engine):
    register(engine)
    first = add_account(engine, "Clara@acme-gmbh.de", name="Clara")
    # The address policy makes both one login, so Teammeter itself refuses a second one: two
    # candidates come from accounts made before the policy (written directly here).
    second = add_account_unchecked(engine, " CLARA@acme-gmbh.de")
    people = [person("10", name="Clara", email="clara@acme-gmbh.de", team="Sales"), person("11", email="p11@acme-gmbh.de", manager="10")]
    sync(engine, people, "day-1")
    assert employee_ids(engine) == ["11", None, None]
    (held,) = table_rows(engine, held_back_records, "acme", "employee_id", "problem", "detail")
    assert held == ("10", linking.SEVERAL_ACCOUNTS, f"Teammeter accounts {first}, {second}")
    assert verify_and_invite(engine) == 1  # person 11 only
    # Teammeter removes the duplicate: the next sync links Clara to the one left.
    with engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.id == second).values(active=False, has_access=False))
    sync(engine, people, "day-2", full_sync=True)
    assert account(engine, first)["employee_id"] == "10"
    assert table_rows(engine, held_back_records, "acme", "employee_id", released_at=None) == []


def test_an_address_already_linked_to_another_hr_person_is_not_linked_again(engine):
    register(engine)
    sync(engine, [person("20", email="dana.old@acme-gmbh.de")], "day-1")
    with company_transaction(engine) as conn:  # Teammeter gave person 20 the login dana@
        hand_edits.set_email(conn, "acme", "20", "dana@acme-gmbh.de")
    stray = add_account_unchecked(engine, "DANA@acme-gmbh.de")
    sync(engine, [person("20", email="dana.old@acme-gmbh.de"), person("21", email="dana@acme-gmbh.de")], "day-2")
    assert account(engine, stray)["employee_id"] is None
    assert table_rows(engine, held_back_records, "acme", "employee_id", "problem", released_at=None) == [
        ("21", linking.ADDRESS_OF_LINKED_ACCOUNT)]
    assert not table_rows(engine, users, "acme", "id", employee_id="21")  # no account until fixed


def add_account_unchecked(engine, email: str) -> int:
    """An account as an older Teammeter may hold it (not through the address policy)."""
    with engine.begin() as conn:
        return conn.execute(sa.insert(users).values(
            organisation_id=1, employee_id=None, display_name="Stray", email=email, email_source="teammeter",
            active=True, has_access=True, origin="teammeter").returning(users.c.id)).scalar()


def test_teammeter_refuses_an_address_that_is_already_a_login(engine):
    register(engine)
    add_account(engine, "eva@acme-gmbh.de")
    with pytest.raises(ValueError, match="already the login of account"):
        add_account(engine, " EVA@acme-gmbh.de")
    with pytest.raises(ValueError, match="not a usable email address"):
        add_account(engine, "not an address")


def review(engine) -> list[dict]:
    with engine.connect() as conn:
        return review_users(conn, "acme")


def test_review_lists_accounts_outside_hr_last_with_employee_id_null(engine):
    register(engine)
    coach = add_account(engine, "coach@consulting-partner.de", name=HOSTILE)
    sync(engine, [person("2"), person("10")], "day-1")
    rows = review(engine)
    assert [row["employee_id"] for row in rows] == ["2", "10", None]
    assert (rows[-1]["account_id"], rows[-1]["origin"], rows[-1]["name"]) == (coach, "teammeter", HOSTILE)
    with engine.connect() as conn:
        summary = review_summary(conn, "acme")
    assert (summary["outside_hr"], summary["linked_accounts"]) == (1, 0)


def test_the_accounts_commands(engine, monkeypatch, tmp_path):
    register(engine)
    monkeypatch.setenv("TEAMMETER_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(main, ["accounts", "add", "acme", "--name", HOSTILE, "--email", "coach@consulting-partner.de",
                                 "--registered"])
    assert added.exit_code == 0, added.output
    account_id = int(added.output.strip())
    listed = runner.invoke(main, ["accounts", "list", "acme", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert '"registered": true' in listed.output and f'"account_id": {account_id}' in listed.output
    assert HOSTILE in runner.invoke(main, ["accounts", "list", "acme"]).output
    again = runner.invoke(main, ["accounts", "add", "acme", "--name", "X", "--email", "Coach@consulting-partner.de"])
    assert again.exit_code == 1 and "Company 'acme'" in again.output and "already the login" in again.output
    unknown = runner.invoke(main, ["accounts", "list", "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output
    policy = runner.invoke(main, ["tenants", "set", "acme", "--pre-start-days", "14"])
    assert policy.exit_code == 0 and "14 days before" in policy.output, policy.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pre_start_days FROM organisations")).scalar() == 14
    assert runner.invoke(main, ["tenants", "set", "acme", "--pre-start-days", "400"]).exit_code == 2


def test_an_existing_install_migrates_with_every_user_an_hr_account(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    command.upgrade(alembic_config(engine), "0011")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO organisations (id, consumer_id, name) VALUES (1, 'acme', 'ACME')")
        conn.exec_driver_sql("INSERT INTO users (id, organisation_id, employee_id, display_name, email, active, "
                             "has_access) VALUES (1, 1, '7', 'Anna', 'anna@acme-gmbh.de', 1, 1)")
        conn.exec_driver_sql("INSERT INTO invitations (organisation_id, user_id, email, status) "
                             "VALUES (1, 1, 'anna@acme-gmbh.de', 'sent')")
    migrate(engine)
    row = account(engine, 1)
    assert (row["employee_id"], row["origin"], row["registered"], row["linked_by"]) == ("7", "hr", False, None)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.execute(sa.select(invitations.c.user_id)).scalars().all() == [1]
    engine.dispose()


def test_a_rehire_under_a_new_hr_id_gets_the_old_account_back(engine):
    register(engine)
    sync(engine, [person("30", name="Fritz  Weiß", email="fritz@acme-gmbh.de", team="Ops"), person("31")], "day-1")
    (old_account,) = table_rows(engine, users, "acme", "id", employee_id="30")
    sync(engine, [person("30", status="terminated", email="fritz@acme-gmbh.de"), person("31")], "day-2",
         approve_deactivations=True)
    assert not account(engine, old_account[0])["active"]
    # HR makes a new profile for the returning Fritz: same address (other case), same name.
    back = [person("30", name="Fritz Weiß", status="terminated", email="fritz@acme-gmbh.de"), person("31"),
            person("77", name="fritz weiß", email="Fritz@ACME-GmbH.de", team="Ops")]
    sync(engine, back, "day-3")
    again = account(engine, old_account[0])
    assert (again["employee_id"], again["linked_by"], again["active"]) == ("77", "rehire", True)
    assert employee_ids(engine) == ["31", "77"]  # no second account
    logged = set(table_rows(engine, change_log, "acme", "entity_key", "action", run_id="day-3"))
    assert {("77", "link"), ("77", "reactivate")} <= logged


def test_a_recycled_address_makes_a_new_account_and_leaves_the_old_one_as_it_was(engine):
    register(engine)
    sync(engine, [person("40", name="Alex Meyer", email="alex@acme-gmbh.de"), person("41")], "day-1")
    (old,) = table_rows(engine, users, "acme", "id", employee_id="40")
    sync(engine, [person("40", status="inactive", name="Alex Meyer", email="alex@acme-gmbh.de"), person("41")],
         "day-2", approve_deactivations=True)
    before = account(engine, old[0])
    sync(engine, [person("40", status="inactive", name="Alex Meyer", email="alex@acme-gmbh.de"), person("41"),
                  person("90", name=HOSTILE, email="alex@acme-gmbh.de")], "day-3")
    assert account(engine, old[0]) == before  # the former person's account and history stay theirs
    (new,) = table_rows(engine, users, "acme", "id", employee_id="90")
    assert new[0] != old[0] and account(engine, new[0])["has_access"]
    assert ("90", "recycled_address") in set(table_rows(engine, change_log, "acme", "entity_key", "action"))
    row = next(r for r in review(engine) if r["employee_id"] == "90")
    assert row["note"] == f"recycled address: account {old[0]} (a former person) had it"


def test_explain_answers_for_hr_people_linked_accounts_and_accounts_outside_hr(engine, tmp_path):
    from personio_pipeline.reporting.explain import explain, format_explanation

    register(engine)
    coach = add_account(engine, "coach@consulting-partner.de", name=HOSTILE)
    existing = add_account(engine, "anna@acme-gmbh.de", name="Anna", registered=True)
    sync(engine, [person("7", name="Anna", email="anna@acme-gmbh.de"), person("8", email=None)], "day-1")
    with engine.connect() as conn:
        anna = explain(conn, "acme", "7", tmp_path)
        nobody_address = explain(conn, "acme", "8", tmp_path)
        outside = explain(conn, "acme", f"account:{coach}", tmp_path)
        with pytest.raises(LookupError, match="Company 'acme' has no person '99'"):
            explain(conn, "acme", "99", tmp_path)
    assert (anna.account["id"], anna.account["linked_by"]) == (existing, "address")
    assert anna.invitation == "never: signed in already" and anna.access.startswith("yes")
    assert {"link", "update"} <= {c["action"] for c in anna.changes}
    assert nobody_address.access == "no: no login address"
    assert outside.account["display_name"] == HOSTILE and outside.invitation.startswith("never by the sync")
    assert HOSTILE in format_explanation(outside) and '"origin": "teammeter"' in format_explanation(outside, "json")


def test_a_pre_hire_has_an_account_without_access_until_the_start_date_minus_the_pre_start_days(engine):
    from datetime import date

    from personio_pipeline.store.sync import sync_company
    from personio_pipeline_tests.support.people import org_model

    register(engine)
    with engine.begin() as conn:
        from personio_pipeline.companies import registry
        registry.set_pre_start_days(conn, "acme", 7)
        with pytest.raises(ValueError, match="pre-start days must be 0 to 365"):
            registry.set_pre_start_days(conn, "acme", -1)
    people = [person("50", email="lead@acme-gmbh.de", team="Ops"),
              person("51", name=HOSTILE, email="new@acme-gmbh.de", team="Ops", manager="50")]
    model = org_model(people)
    model.employees.loc[model.employees["employee_id"] == "51", "start_date"] = pd.Timestamp("2026-04-01")

    def run(day: date, run_id: str):
        return sync_company(engine, "acme", model, run_id=run_id, today=day)

    run(date(2026, 3, 1), "march-1")
    (new,) = table_rows(engine, users, "acme", "email", "has_access", employee_id="51")
    assert new == ("new@acme-gmbh.de", False)  # account, team and line exist for the review
    assert table_rows(engine, users, "acme", "has_access", employee_id="50") == [(True,)]
    assert verify_and_invite(engine) == 1  # the lead only
    assert run(date(2026, 3, 24), "march-24").diff_skipped  # nothing changed: not yet 7 days before
    result = run(date(2026, 3, 25), "march-25")  # the model is the same, the date is not
    assert not result.diff_skipped
    assert table_rows(engine, users, "acme", "has_access", employee_id="51") == [(True,)]
    with engine.begin() as conn:
        assert enqueue_eligible(conn, "acme", NOW) == 1  # invited on their access day


def test_the_verification_report_shows_existing_accounts_and_pre_hires_with_their_access_day(engine):
    from datetime import date

    from personio_pipeline.companies import registry
    from personio_pipeline.reporting.verification import build_report
    from personio_pipeline.store.sync import sync_company
    from personio_pipeline_tests.support.people import org_model
    from personio_pipeline_tests.support.report_page import ReportPage

    register(engine)
    with engine.begin() as conn:
        registry.set_pre_start_days(conn, "acme", 3)
    add_account(engine, "coach@consulting-partner.de", name=HOSTILE)
    add_account(engine, "anna@acme-gmbh.de", name="Anna")
    model = org_model([person("7", name="Anna", email="anna@acme-gmbh.de", team="Ops"),
                       person("8", name="Nina Neu", email="nina@acme-gmbh.de", team="Ops")])
    model.employees.loc[model.employees["employee_id"] == "8", "start_date"] = pd.Timestamp("2099-05-04")
    sync_company(engine, "acme", model, run_id="day-1", today=date(2026, 3, 1))
    with engine.connect() as conn:
        content, page = build_report(conn, "acme", model.employees)
    assert (content.counts()["linked_accounts"], content.counts()["outside_personio"]) == (1, 1)
    (nina,) = [p for p in content.blocked if p.employee_id == "8"]
    assert (nina.reason, nina.detail) == ("starts later", "a pre-hire: access from 2099-05-01")
    parsed = ReportPage(page)
    (linked,) = [t for t in parsed.tables if t.section == "accounts"]
    assert linked.rows == [["Anna", "7", "linked by address"]]
    text = " ".join(parsed.text)
    assert HOSTILE in text and "<b>Łukasz</b>" not in page  # shown as text, never as markup


def test_a_rollout_scope_stores_its_people_only_and_counts_the_rest(engine, monkeypatch, tmp_path):
    from personio_pipeline.companies import scope as company_scope
    from personio_pipeline.store.safeguard import SafeguardError

    register(engine)
    people = [person("1", name="Eng Lead", email="p1@acme-gmbh.de", unit="Engineering", team="Platform"),
              person("2", email="p2@acme-gmbh.de", unit="ENGINEERING ", team="Platform", manager="1"),
              person("3", name=HOSTILE, email="p3@acme-gmbh.de", unit="Sales", team="Inbound"),
              person("4", email="p4@acme-gmbh.de", unit="Sales", team="Design Guild", manager="3"),
              person("5", email="p5@acme-gmbh.de", unit="Engineering", team="Data", manager="3")]
    monkeypatch.setenv("TEAMMETER_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    set_scope = CliRunner().invoke(main, ["tenants", "set", "acme", "--scope", "department=engineering;team=Design Guild"])
    assert set_scope.exit_code == 0, set_scope.output
    result = sync(engine, people, "day-1")
    assert employee_ids(engine) == ["1", "2", "4", "5"]  # Sales' Inbound team is outside: counted, not stored
    assert result.outside_scope == {"people": 1, "managers": 2}  # 4 and 5 report to 3: no line invented
    assert verify_and_invite(engine) == 4
    # Person 2 moves to Sales: out of the scope, deactivated like a leaver, counted by the safeguard.
    moved = [people[0], replaced(people[1], unit="Sales", team="Inbound"), *people[2:]]
    with pytest.raises(SafeguardError):
        sync(engine, moved, "day-2", max_deactivation_share=0.2)
    sync(engine, moved, "day-2", approve_deactivations=True)
    assert table_rows(engine, users, "acme", "active", "hr_status", employee_id="2") == [(False, "out_of_scope")]
    assert next(r for r in review(engine) if r["employee_id"] == "2")["note"].startswith("out of scope")
    # A scope that matches nobody is a typo: nothing is written, nobody deactivated.
    with engine.begin() as conn:
        from personio_pipeline.companies import registry
        registry.set_scope(conn, "acme", company_scope.parse("department=Enginering").stored())
    with pytest.raises(SafeguardError, match="matches none of the people"):
        sync(engine, moved, "day-3")
    assert CliRunner().invoke(main, ["tenants", "set", "acme", "--scope", "floor=3"]).exit_code == 1
    cleared = CliRunner().invoke(main, ["tenants", "set", "acme", "--scope", ""])
    assert cleared.exit_code == 0 and "scope everyone" in cleared.output
    sync(engine, moved, "day-4")
    assert employee_ids(engine) == ["1", "2", "3", "4", "5"]


def test_scope_parsing_says_what_is_allowed():
    from personio_pipeline.companies.scope import load, parse

    scope = parse(" department = Engineering , Sales ; team=Platform;department=Ops")
    assert scope.lists == {"department": ("Engineering", "Sales", "Ops"), "team": ("Platform",)}
    assert load(scope.stored()) == scope and parse("").everyone and load(None).everyone
    with pytest.raises(ValueError, match="not a scope part"):
        parse("floor=3")
    with pytest.raises(ValueError, match="lists no team"):
        parse("team=")
