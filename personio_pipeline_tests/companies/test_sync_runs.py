"""Sync attempts and the per-company summary view, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from personio_pipeline.companies import sync_runs
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.store.schema import sync_runs as sync_runs_table
from personio_pipeline_tests.support.people import day_one, day_two, sync
from personio_pipeline_tests.support.stores import dump, register, table_rows

T0 = datetime(2026, 3, 1, 5, 0, tzinfo=timezone.utc)
KEY = "sk_live_SECRET_0123456789"


def status(engine, consumer_id: str = "acme") -> sync_runs.CompanyStatus:
    with engine.connect() as conn:
        (row,) = sync_runs.company_status(conn, consumer_id)
    return row


def fail(engine, run_id: str, at: datetime, consumer_id: str = "acme", **details) -> bool:
    with engine.begin() as conn:
        return sync_runs.record_failure(conn, consumer_id, run_id, finished_at=at, **details)


def test_a_sync_records_its_success_with_counts(engine):
    register(engine)
    result = sync(engine, day_one(), "day-1", now=T0)
    row = status(engine)
    assert (row.last_attempt_status, row.last_success_run_id, row.last_success_at) == ("succeeded", "day-1", T0)
    assert row.last_success_employees_read == len(day_one()) == 9
    assert row.last_success_rows_written == result.rows_written > 0
    assert row.last_success_counts == result.counts and row.last_success_counts["user"] == {"create": 8}
    assert (row.last_failure_at, row.consecutive_failures, row.failing) == (None, 0, False)

    sync(engine, day_one(), "no-op", now=T0 + timedelta(days=1))
    row = status(engine)
    assert (row.last_success_run_id, row.last_success_rows_written, row.last_success_counts) == ("no-op", 0, {})


@pytest.mark.parametrize("stage", ["user", "change_log", "organisation"])
def test_a_failed_write_records_no_success(engine, stage):
    register(engine)
    sync(engine, day_one(), "day-1", now=T0)
    before = dump(engine)

    def broken(current: str) -> None:
        if current == stage:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        sync(engine, day_two(), "day-2", now=T0 + timedelta(days=1), after_stage=broken)
    assert dump(engine) == before
    assert table_rows(engine, sync_runs_table, "acme", "run_id", "status") == [("day-1", "succeeded")]


def test_failures_count_until_the_next_success(engine):
    register(engine)
    sync(engine, day_one(), "day-1", now=T0)
    assert fail(engine, "day-2", T0 + timedelta(days=1), failed_step="apideck__employees", error="401")
    assert fail(engine, "day-3", T0 + timedelta(days=2), failed_step="teammeter_sync", error="safeguard")
    row = status(engine)
    assert (row.last_attempt_status, row.last_attempt_run_id, row.consecutive_failures) == ("failed", "day-3", 2)
    assert (row.last_failure_run_id, row.last_failure_step, row.last_failure_error) == (
        "day-3", "teammeter_sync", "safeguard")
    assert (row.last_success_run_id, row.last_success_at, row.failing) == ("day-1", T0, True)

    sync(engine, day_two(), "day-4", now=T0 + timedelta(days=3))
    row = status(engine)
    assert (row.last_attempt_status, row.consecutive_failures, row.last_failure_run_id) == ("succeeded", 0, "day-3")


def test_a_company_that_never_succeeded_counts_every_failure(engine):
    register(engine)
    register(engine, "globex", "Globex")
    fail(engine, "a", T0)
    fail(engine, "b", T0 + timedelta(hours=1))
    with engine.connect() as conn:
        rows = sync_runs.company_status(conn)
    assert [(r.consumer_id, r.consecutive_failures, r.last_success_at) for r in rows] == [
        ("acme", 2, None),  # failing companies first
        ("globex", 0, None),
    ]
    assert rows[1].last_attempt_status is None and rows[1].name == "Globex"


def test_recording_a_failure_twice_keeps_one_row(engine):
    register(engine)
    assert fail(engine, "run-1", T0, error="first")
    assert not fail(engine, "run-1", T0 + timedelta(minutes=5), error="replayed tick")
    assert table_rows(engine, sync_runs_table, "acme", "run_id", "error") == [("run-1", "first")]
    assert status(engine).consecutive_failures == 1


def test_a_run_that_wrote_stays_a_success_when_its_failure_arrives_later(engine):
    register(engine)
    sync(engine, day_one(), "run-1", now=T0)
    assert not fail(engine, "run-1", T0 + timedelta(minutes=1), error="a later step failed")
    assert status(engine).last_attempt_status == "succeeded"


def test_stored_errors_hold_no_addresses_or_secrets_and_are_bounded(engine):
    register(engine)
    error = f"Company 'acme': ada@acme.test and <ben.bauer+hr@sub.acme.test> rejected; key {KEY}; " + "x" * 5000
    fail(engine, "run-1", T0, error=error, secrets=(KEY,))
    stored = status(engine).last_failure_error
    assert stored.startswith("Company 'acme': [email] and <[email]> rejected; key [secret]; xxx")
    assert "@" not in stored and KEY not in stored
    assert len(stored) == 2000


def test_unknown_companies_are_refused(engine):
    with pytest.raises(UnknownCompanyError):
        fail(engine, "run-1", T0, consumer_id="nobody")
    with pytest.raises(UnknownCompanyError), engine.connect() as conn:
        sync_runs.company_status(conn, "nobody")


def test_status_must_be_known_and_run_ids_unique_per_company(engine):
    register(engine)
    register(engine, "globex", "Globex")
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT consumer_id, id FROM organisations")).all())
    row = {"run_id": "r", "finished_at": T0}
    with engine.begin() as conn:
        conn.execute(sa.insert(sync_runs_table).values(organisation_id=ids["acme"], status="failed", **row))
        conn.execute(sa.insert(sync_runs_table).values(organisation_id=ids["globex"], status="failed", **row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(sync_runs_table).values(organisation_id=ids["acme"], status="failed", **row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(sync_runs_table).values(organisation_id=ids["acme"], status="maybe", run_id="s",
                                                       finished_at=T0))
