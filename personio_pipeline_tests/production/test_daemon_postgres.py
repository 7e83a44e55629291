"""The production instance end to end: `dagster-daemon run` on deploy/dagster.yaml with all
storage in a fresh PostgreSQL database, a real sandbox, and five companies.

What the daemon has to do by itself: the connection sensor finds the companies callable in
Vault, the `daily_sync` schedule (every minute here, via DAILY_SYNC_CRON) requests one run per
company, the queue launches them within the limits, and every run succeeds. Limits are tighter
than production so they bind: 2 runs at a time, one Teammeter write at a time (pool
`teammeter_write`), and two extra runs of one company queued together before the daemon starts,
which the per-company limit must run one after the other. The `apideck` pool keeps its
production size: it is the first step of every run, so at a size of 1 the queue itself would
hold every run back and the run limit would never bind.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from dagster._core.scheduler.instigation import TickStatus
from dagster_postgres import PostgresRunStorage

from personio_pipeline import cli
from personio_pipeline.companies import connection_health, registry, sync_runs
from personio_pipeline.store.db import migrated_engine
from personio_pipeline.store.schema import organisations, users
from personio_pipeline_tests.support.processes import BIN, REPO, Child, child_env, wait_for
from personio_pipeline_tests.support.production import dagster_pg_env, max_overlap, production_instance
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID
from personio_pipeline_tests.support.stores import sqlalchemy_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# CI runs 5 companies; the production-local acceptance run uses 50:
# PERSONIO_DAEMON_TEST_COMPANIES=50 PERSONIO_DAEMON_TEST_MAX_RUNS=8 pytest personio_pipeline_tests/production/test_daemon_postgres.py
COMPANY_COUNT = int(os.environ.get("PERSONIO_DAEMON_TEST_COMPANIES", "5"))
COMPANIES = sorted(f"daemon-co-{n:03d}" for n in range(1, COMPANY_COUNT + 1))
MAX_RUNS = int(os.environ.get("PERSONIO_DAEMON_TEST_MAX_RUNS", "2"))
WRITE_SLOTS = 1
DEADLINE = 150 + 6 * COMPANY_COUNT  # seconds from daemon start until every run has finished
SENSOR_HEADSTART = 30  # seconds the daemon gets before the first minute boundary (code location load + sensor)
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def step_interval(instance: dg.DagsterInstance, run_id: str, step_key: str) -> tuple[float, float]:
    records = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS})
    times = {record.dagster_event.event_type: record.timestamp for record in records if record.step_key == step_key}
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


def ticks_by_instigator(instance: dg.DagsterInstance) -> dict[str, list]:
    return {
        state.name: list(instance.get_ticks(state.instigator_origin_id, state.selector_id))
        for state in instance.all_instigator_state()
    }


def test_schedule_and_sensors_sync_every_company_through_the_daemon(tmp_path, sandbox, new_database, monkeypatch):
    started = datetime.now(timezone.utc)
    dagster_db, teammeter_db = new_database("dagster_prod_test"), new_database("teammeter_prod_test")
    home = tmp_path / "dagster_home"
    config = production_instance(home, max_concurrent_runs=MAX_RUNS, dequeue_interval_seconds=1)
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
        config["concurrency"]["runs"]["tag_concurrency_limits"]
    ), "the per-company limit under test comes from deploy/dagster.yaml"
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n"
        "      module_name: personio_pipeline.definitions\n"
        f"      location_name: personio_pipeline\n      working_directory: {REPO}\n"
    )
    settings = {
        **dagster_pg_env(dagster_db),
        "DAGSTER_HOME": str(home),
        "TEAMMETER_DATABASE_URL": sqlalchemy_url(teammeter_db),
        "PERSONIO_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "APIDECK_BASE_URL": sandbox.url,
        "APIDECK_API_KEY": TEST_API_KEY,
        "APIDECK_APP_ID": TEST_APP_ID,
        "DAILY_SYNC_CRON": "* * * * *",
        "DAILY_SYNC_TIMEZONE": "UTC",
        "DAILY_SYNC_HOUR": "0",  # every company is due on every tick (its day's run key keeps it to one)
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    env = child_env(**settings)

    # The deploy step migrates the empty Teammeter database (runs never do: they would fail fast).
    upgraded = CliRunner().invoke(cli.main, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "upgraded from an empty database" in upgraded.output, upgraded.output
    # The operator registers the companies (Teammeter row + partition in the Postgres storage);
    # their first, manual sync is recorded as done so the daily schedule takes them.
    for company in COMPANIES:
        result = CliRunner().invoke(cli.main, ["tenants", "add", company, "--name", company.upper()])
        assert result.exit_code == 0, result.output
    engine = migrated_engine(settings["TEAMMETER_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.update(organisations).values(first_synced_at=sa.func.now()))
        assert {o.connection_state for o in registry.list_all(conn)} == {"registered"}

    instance = dg.DagsterInstance.get()
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert instance.get_dynamic_partitions("companies") == COMPANIES
    instance.event_log_storage.set_concurrency_slots("apideck", 4)
    instance.event_log_storage.set_concurrency_slots("teammeter_write", WRITE_SLOTS)

    # Two manual runs of the first company, both queued before any daemon runs.
    tags = json.dumps({"dagster/partition": COMPANIES[0], "personio_pipeline/trigger": "test"})
    launch = [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-l", "personio_pipeline",
              "-j", "sync_company", "--tags", tags]
    launches = [subprocess.Popen(launch, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for _ in range(2)]
    for process in launches:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    manual = instance.get_runs(filters=dg.RunsFilter(tags={"personio_pipeline/trigger": "test"}))
    assert [run.status for run in manual] == [dg.DagsterRunStatus.QUEUED] * 2

    # The schedule fires on the minute. The connection sensor needs its first tick (10-20 s after
    # the daemon starts) before that, or the companies wait for the next minute: start early enough.
    seconds_left = 60 - datetime.now().second
    if seconds_left < SENSOR_HEADSTART:
        time.sleep(seconds_left + 1)
    daemon = Child([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], env, tmp_path / "daemon.log")
    daemon_started = time.monotonic()
    watch = dict(alive=daemon.alive, diagnose=daemon.tail)
    try:
        def states() -> set[str]:
            with engine.connect() as conn:
                return {o.connection_state for o in registry.list_all(conn)}

        wait_for("connection sensor records every company as callable",
                 lambda: states() == {connection_health.CONNECTED}, timeout=90, **watch)

        # `* * * * *` would request every company again each minute: pause each company once
        # its scheduled run exists, as an operator would with `tenants auto-sync ID off`.
        paused: set[str] = set()

        def scheduled_companies() -> bool:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/schedule_name": "daily_sync"}))
            new = {run.tags["dagster/partition"] for run in runs} - paused
            with engine.begin() as conn:
                for company in new:
                    registry.set_auto_sync(conn, company, False)
            paused.update(new)
            return paused == set(COMPANIES)

        wait_for("daily_sync requests a run for every company", scheduled_companies,
                 timeout=DEADLINE - (time.monotonic() - daemon_started), **watch)

        def all_finished() -> bool:
            return all(run.status in FINISHED for run in instance.get_runs())

        wait_for("every run finishes", all_finished,
                 timeout=max(DEADLINE - (time.monotonic() - daemon_started), 1), **watch)
    finally:
        daemon.stop()

    records = instance.get_run_records()
    failed = [(r.dagster_run.tags.get("dagster/partition"), r.dagster_run.status) for r in records
              if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    assert not failed, f"runs that did not succeed: {failed}\n{daemon.tail()}"
    scheduled = [r for r in records if r.dagster_run.tags.get("dagster/schedule_name") == "daily_sync"]
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in scheduled) == COMPANIES
    assert len(records) == len(COMPANIES) + 2

    # The limits held: at most MAX_RUNS runs at once, never two runs of one company at once
    # (the first company had three, two of them queued together), one Teammeter write at a time.
    intervals = {r.dagster_run.run_id: (r.start_time, r.end_time) for r in records}
    assert max_overlap(list(intervals.values())) <= MAX_RUNS
    for company in COMPANIES:
        own = [intervals[r.dagster_run.run_id] for r in records if r.dagster_run.tags["dagster/partition"] == company]
        assert max_overlap(own) == 1, company
    writes = [step_interval(instance, run_id, "teammeter_sync") for run_id in intervals]
    assert max_overlap(writes) <= WRITE_SLOTS

    # Every company was written to Teammeter by its scheduled run.
    with engine.connect() as conn:
        for company in COMPANIES:
            organisation = registry.get(conn, company)
            assert organisation.last_synced_at is not None and organisation.last_synced_at >= started
            count = conn.execute(sa.select(sa.func.count()).select_from(users)
                                 .where(users.c.organisation_id == organisation.id)).scalar_one()
            assert count > 0, company
        # ... and the per-company summary in Teammeter says so: every run id recorded as a success.
        summary = {row.consumer_id: row for row in sync_runs.company_status(conn)}
    for company in COMPANIES:
        assert summary[company].last_attempt_status == "succeeded", (company, summary[company])
        assert summary[company].consecutive_failures == 0 and summary[company].last_success_employees_read > 0
    run_ids = {r.dagster_run.run_id for r in records}
    assert {row.last_success_run_id for row in summary.values()} <= run_ids

    # The daemon evaluated the schedule and the sensors against the Postgres schedule storage.
    ticks = ticks_by_instigator(instance)
    ticking = {"daily_sync", "connection_sensor", "missing_email_alerts", "sync_failure_sensor"}
    assert ticking <= set(ticks)
    for name, instigator_ticks in ticks.items():  # change_log_retention is due at 04:15 only
        assert instigator_ticks or name not in ticking, name
        assert all(tick.status != TickStatus.FAILURE for tick in instigator_ticks), (name, instigator_ticks)
    assert any(tick.status == TickStatus.SUCCESS for tick in ticks["daily_sync"])
    instance.dispose()
