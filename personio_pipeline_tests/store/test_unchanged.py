"""Skipping the diff: only when the model and the store are what the last sync left."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from personio_pipeline.companies import registry
from personio_pipeline.common import source_digest as code
from personio_pipeline.store import hand_edits, unchanged
from personio_pipeline.store.db import company_transaction
from personio_pipeline.store.schema import reporting_lines, sync_runs, team_memberships, users
from personio_pipeline.store.unchanged import model_fingerprint
from personio_pipeline_tests.support.people import day_one, day_two, org_model, replaced, sync
from personio_pipeline_tests.support.stores import register, table_rows

LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def synced(engine):
    register(engine)
    sync(engine, day_one(), "day-1")
    return engine


def organisation_row(engine):
    with engine.connect() as conn:
        return registry.get(conn, "acme")


def test_a_rerun_skips_the_diff_and_still_records_the_sync(synced):
    before = organisation_row(synced).last_synced_at
    again = sync(synced, day_one(), "day-1-again")

    assert again.diff_skipped and again.rows_written == 0 and again.counts == {}
    assert organisation_row(synced).last_synced_at > before
    assert table_rows(synced, sync_runs, "acme", "run_id", "status", "rows_written", run_id="day-1-again") == [
        ("day-1-again", "succeeded", 0)
    ]
    assert "no diff needed" in again.preview_markdown()


def test_any_model_change_diffs(synced):
    renamed = [replaced(p, name="Ada Lovelace") if p.employee_id == "1" else p for p in day_one()]
    result = sync(synced, renamed, "rename")
    assert not result.diff_skipped and result.counts["user"] == {"update": 1}
    assert sync(synced, renamed, "rename-again").diff_skipped


def test_a_hand_edit_makes_the_next_sync_diff(synced):
    with company_transaction(synced) as conn:
        team = hand_edits.create_team(conn, "acme", "Guild")
        hand_edits.add_member(conn, "acme", team, "2")
    result = sync(synced, day_one(), "after-edit")
    assert not result.diff_skipped and result.rows_written == 0  # the hand-made rows are not HR's
    assert sync(synced, day_one(), "after-edit-again").diff_skipped


@pytest.mark.parametrize(
    "edit",
    [
        # Teammeter (the app) deactivates an HR person, stamping updated_at as every writer does.
        lambda conn: conn.execute(
            sa.update(users).where(users.c.employee_id == "2").values(active=False, has_access=False, updated_at=LATER)
        ),
        # An HR membership ended outside the sync.
        lambda conn: conn.execute(
            sa.update(team_memberships).where(team_memberships.c.id == 1).values(ended_at=LATER)
        ),
        # A reporting line deleted outright.
        lambda conn: conn.execute(sa.delete(reporting_lines).where(reporting_lines.c.id == 1)),
        # A membership re-pointed to another team in place (links have no updated_at).
        lambda conn: conn.execute(
            sa.update(team_memberships).where(team_memberships.c.id == 1).values(
                team_id=sa.select(sa.func.max(team_memberships.c.team_id)).scalar_subquery()
            )
        ),
        # A name edited by raw SQL without stamping updated_at.
        lambda conn: conn.execute(sa.update(users).where(users.c.employee_id == "2").values(last_name="B.")),
    ],
    ids=["user-deactivated", "membership-ended", "line-deleted", "membership-re-pointed", "name-edited"],
)
def test_an_edit_outside_the_sync_is_noticed_and_repaired(synced, edit):
    expected = hr_state(synced)
    with synced.begin() as conn:
        edit(conn)
    assert hr_state(synced) != expected

    result = sync(synced, day_one(), "repair")

    assert not result.diff_skipped and result.rows_written > 0
    assert hr_state(synced) == expected


def hr_state(engine) -> dict[str, list[tuple]]:
    """Who is active, and the open memberships and lines (ids of repaired links differ)."""
    return {
        "users": table_rows(engine, users, "acme", "employee_id", "active", "has_access", "last_name"),
        "memberships": table_rows(engine, team_memberships, "acme", "user_id", "team_id", ended_at=None),
        "lines": table_rows(engine, reporting_lines, "acme", "user_id", "manager_user_id", ended_at=None),
    }


def test_a_failed_sync_keeps_what_the_last_good_one_remembered(synced):
    def fail_after_users(stage):
        if stage == "user":
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        sync(synced, day_two(), "day-2", after_stage=fail_after_users)
    assert sync(synced, day_one(), "day-1-again").diff_skipped
    assert not sync(synced, day_two(), "day-2-retry").diff_skipped


def test_the_diff_runs_at_least_weekly(synced):
    last_diff = organisation_row(synced).last_synced_at
    last_diff = last_diff if last_diff.tzinfo else last_diff.replace(tzinfo=timezone.utc)  # SQLite: naive UTC
    assert sync(synced, day_one(), "day-6", now=last_diff + timedelta(days=6)).diff_skipped
    assert not sync(synced, day_one(), "day-8", now=last_diff + timedelta(days=8)).diff_skipped
    assert sync(synced, day_one(), "day-9", now=last_diff + timedelta(days=9)).diff_skipped


def test_full_sync_always_diffs(synced):
    result = sync(synced, day_one(), "forced", full_sync=True)
    assert not result.diff_skipped and result.rows_written == 0


def test_fingerprint_covers_every_cell_column_and_type():
    model = org_model(day_one())
    same = org_model(day_one())
    assert model_fingerprint(model) == model_fingerprint(same)

    one_cell = org_model(day_one())
    one_cell.employees.loc[3, "email"] = "someone.else@acme.test"
    renamed_column = org_model(day_one())
    renamed_column.employees.rename(columns={"email_type": "kind"}, inplace=True)
    retyped = org_model(day_one())
    retyped.employees["updated_at"] = retyped.employees["updated_at"].astype(str)
    fewer_lines = org_model(day_one())
    fewer_lines.reporting_lines.drop(index=0, inplace=True)
    text_none = org_model(day_one())  # HR sends the text "None" where it sent nothing
    text_none.employees["email_problem"] = text_none.employees["email_problem"].map(lambda v: "None" if v is None else v)
    others = {model_fingerprint(m) for m in (one_cell, renamed_column, retyped, fewer_lines, text_none)}
    assert len(others) == 5 and model_fingerprint(model) not in others


def test_fingerprint_changes_with_the_code_that_builds_and_applies_the_model(monkeypatch, tmp_path):
    model = org_model(day_one())
    before = model_fingerprint(model)
    package = tmp_path / "personio_pipeline"
    for pattern in unchanged._RULE_SOURCES:
        for source in code.PACKAGE.glob(pattern):
            target = package / source.relative_to(code.PACKAGE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    monkeypatch.setattr(code, "PACKAGE", package)
    code.source_digest.cache_clear()
    try:
        assert model_fingerprint(model) == before
        ownership = package / "store" / "ownership.py"
        ownership.write_text(ownership.read_text() + "\n# a new rule\n")
        code.source_digest.cache_clear()
        assert model_fingerprint(model) != before
    finally:
        code.source_digest.cache_clear()
