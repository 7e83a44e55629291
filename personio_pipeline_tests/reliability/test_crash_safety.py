"""A sync killed (SIGKILL) in the middle of its Teammeter transaction, after each stage of the
write: the database must be exactly as before, the company lock must be free again, and the
next run must reach the same state as a run that was never interrupted.

PostgreSQL is the deployment's store (marked `postgres`); SQLite, the embedded default, too.
"""

from __future__ import annotations

import pytest

from personio_pipeline.companies import registry
from personio_pipeline.store.db import create_engine, migrate
from personio_pipeline.store.sync import STAGES, sync_company
from personio_pipeline_tests.reliability.children import SyncChild
from personio_pipeline_tests.support.pipeline_runs import (
    COMPANY,
    dump_difference,
    logical_dump,
    org_model_for,
)
from personio_pipeline_tests.support.stores import database_url, dump

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # a sync killed at every write, on both stores


@pytest.fixture(scope="module")
def models():
    return {"day0": org_model_for(COMPANY, 300, day=0), "day1": org_model_for(COMPANY, 300, day=1)}


@pytest.fixture(scope="module")
def uninterrupted(models, tmp_path_factory):
    """The state after an uninterrupted first sync, and after day 0 then day 1."""
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('uninterrupted') / 'teammeter.sqlite'}")
    migrate(engine)
    with engine.begin() as conn:
        registry.register(conn, COMPANY, "ACME GmbH")
        registry.register(conn, "beta", "Beta AG")
    sync_company(engine, COMPANY, models["day0"], run_id="reference-day0")
    first = logical_dump(engine)
    sync_company(engine, COMPANY, models["day1"], run_id="reference-day1")
    states = {"day0": first, "day1": logical_dump(engine)}
    engine.dispose()
    return states


@pytest.mark.parametrize("scenario", ["first sync", "day two"])
@pytest.mark.parametrize("stage", STAGES)
def test_a_sync_killed_mid_write_leaves_no_trace_and_the_next_run_converges(
    store_engine, models, uninterrupted, stage, scenario
):
    model = models["day0"]
    if scenario == "day two":
        sync_company(store_engine, COMPANY, models["day0"], run_id="day0")
        model = models["day1"]
    before = dump(store_engine)

    child = SyncChild(database_url(store_engine), COMPANY, model, run_id="killed", hold_at=stage).start()
    try:
        child.wait_held()
        assert dump(store_engine) == before, "uncommitted writes are visible to other connections"
        child.kill()
    finally:
        child.stop()

    assert dump(store_engine) == before, f"the sync killed after stage {stage!r} left changes behind"
    result = sync_company(store_engine, COMPANY, model, run_id="next")  # waits forever if the lock leaked
    assert result.rows_written > 0
    expected = uninterrupted["day1" if scenario == "day two" else "day0"]
    state = logical_dump(store_engine)
    assert state == expected, dump_difference(state, expected)
