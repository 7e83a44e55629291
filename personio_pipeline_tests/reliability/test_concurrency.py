"""Two syncs at once. Of one company: they never interleave; the second waits for the company
lock, then finds the first one's result and writes nothing. Of two companies: on PostgreSQL
they run in parallel (the lock is the company's row); on SQLite the write lock is the
database's, so the second write waits for the first and both complete."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from personio_pipeline.store.schema import change_log
from personio_pipeline_tests.reliability.children import SyncChild
from personio_pipeline_tests.support.pipeline_runs import COMPANY, logical_dump, org_model_for
from personio_pipeline_tests.support.stores import database_url

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # concurrent syncs waiting on each other's locks
OTHER = "beta"
# After a sync asks for SQLite's write lock: long enough for one that does not wait to start
# writing, so the timestamps below would show it. Nothing is asserted from the pause itself.
LOCK_GRACE = 0.5


@pytest.fixture(scope="module")
def models():
    return {COMPANY: org_model_for(COMPANY, 300), OTHER: org_model_for(OTHER, 300)}


def waiting_on_a_lock(engine: sa.Engine) -> int:
    """Backends of this database waiting for a heavyweight lock (PostgreSQL)."""
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def run_ids_logged(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(change_log.c.run_id).distinct()).scalars())


def test_two_syncs_of_one_company_do_not_interleave(store_engine, models):
    url, model = database_url(store_engine), models[COMPANY]
    first = SyncChild(url, COMPANY, model, run_id="first", hold_at="user").start()
    second = None
    try:
        first.wait_held()  # units, teams, roles and users written, not committed
        # A full diff, so its writes (none) start only once it holds the lock the first one had.
        second = SyncChild(url, COMPANY, model, run_id="second", full_sync=True).start()
        if store_engine.dialect.name == "postgresql":
            assert wait_until(lambda: waiting_on_a_lock(store_engine) >= 1), "the second sync is not waiting"
        else:
            assert second.locking.wait(15), "the second sync never asked for the write lock"
            time.sleep(LOCK_GRACE)  # time a sync that does not wait would need to start writing
        released = time.time()
        first.release.set()
        one, two = first.result(), second.result()
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert one["rows_written"] > 0
    assert two["rows_written"] == 0, "the second sync must see the first one's result and write nothing"
    assert two["started"] < released < one["committed"] <= two["first_stage"], "the second wrote before the first committed"
    if store_engine.dialect.name == "sqlite":
        assert two["lock_requested"] < released, "the second sync asked for the lock only after the first let go"
    assert run_ids_logged(store_engine) == {"first"}


def test_syncs_of_two_companies_both_complete_and_overlap(store_engine, models):
    url = database_url(store_engine)
    acme = SyncChild(url, COMPANY, models[COMPANY], run_id="acme", hold_at="user").start()
    beta = None
    try:
        acme.wait_held()
        beta = SyncChild(url, OTHER, models[OTHER], run_id="beta").start()
        if store_engine.dialect.name == "postgresql":
            # No global lock: Beta is written and committed while ACME's transaction is still open.
            beta_result = beta.result(timeout=30)
            assert not acme.finished()
            acme.release.set()
            acme_result = acme.result()
            assert beta_result["committed"] < acme_result["committed"]
        else:
            # SQLite has one writer at a time: Beta's write waits for ACME's commit, then runs.
            assert beta.locking.wait(15), "Beta's sync never asked for the write lock"
            time.sleep(LOCK_GRACE)
            released = time.time()
            acme.release.set()
            acme_result, beta_result = acme.result(), beta.result()
            assert beta_result["lock_requested"] < released < acme_result["committed"] <= beta_result["first_stage"]
    finally:
        acme.stop()
        if beta is not None:
            beta.stop()

    assert acme_result["rows_written"] > 0 and beta_result["rows_written"] > 0
    assert beta_result["started"] < acme_result["committed"] and acme_result["started"] < beta_result["committed"]
    assert run_ids_logged(store_engine) == {"acme", "beta"}
    state = logical_dump(store_engine)
    users = state["users"]
    assert {row[0] for row in users} == {("consumer_id", COMPANY), ("consumer_id", OTHER)}
