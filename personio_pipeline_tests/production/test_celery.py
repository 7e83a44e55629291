"""Several companies' syncs with every step on a Celery worker: the code location of
deploy/celery_definitions.py, RabbitMQ as broker, Redis for step results, and a real
`dagster-celery worker` process started with deploy/celery.yaml, as deploy/README.md describes.

The runs are started side by side (one `dagster job execute` per company, as the daemon's run
launcher would start run workers), so the worker serves steps of several companies at once. A
queue of its own keeps this test away from any other worker on the same broker.
"""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from personio_pipeline import cli
from personio_pipeline.companies import registry
from personio_pipeline.store.db import migrated_engine
from personio_pipeline.store.schema import users
from personio_pipeline_tests.support.net import reachable, unavailable
from personio_pipeline_tests.support.processes import BIN, REPO, Child, child_env, wait_for
from personio_pipeline_tests.support.production import DEPLOY
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

pytestmark = pytest.mark.slow

BROKER = "pyamqp://guest@127.0.0.1:5672//"
BACKEND = "redis://127.0.0.1:6379/0"
COMPANIES = ["celery-co-1", "celery-co-2", "celery-co-3"]


@pytest.fixture
def brokers():
    for name, port in (("RabbitMQ", 5672), ("Redis", 6379)):
        if not reachable("127.0.0.1", port):
            unavailable(f"{name} is not reachable at 127.0.0.1:{port}")


@pytest.fixture
def celery_queue():
    """A queue name of this test's own, deleted from the broker afterwards."""
    from kombu import Connection

    name = f"personio-test-{uuid.uuid4().hex[:10]}"
    yield name
    with Connection(BROKER, connect_timeout=5) as connection:
        connection.default_channel.queue_delete(name)


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_companies_sync_through_celery_workers(tmp_path, sandbox, brokers, celery_queue, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    settings = {
        "DAGSTER_HOME": str(home),
        "TEAMMETER_DATABASE_URL": f"sqlite:///{tmp_path / 'teammeter.sqlite'}",
        "PERSONIO_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "APIDECK_BASE_URL": sandbox.url,
        "APIDECK_API_KEY": TEST_API_KEY,
        "APIDECK_APP_ID": TEST_APP_ID,
        "DAGSTER_CELERY_BROKER_URL": BROKER,
        "DAGSTER_CELERY_BACKEND_URL": BACKEND,
        "DAGSTER_CELERY_QUEUE": celery_queue,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    env = child_env(**settings)
    for company in COMPANIES:
        result = CliRunner().invoke(cli.main, ["tenants", "add", company, "--name", company.upper()])
        assert result.exit_code == 0, result.output

    worker = Child(
        [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app", "-y", str(DEPLOY / "celery.yaml"),
         "-q", celery_queue, "-n", celery_queue, "--", "--concurrency", "2"],
        env, tmp_path / "worker.log",
    )
    try:
        wait_for("the Celery worker is ready", lambda: " ready." in worker.log.read_text(errors="replace"),
                 timeout=60, interval=0.5, alive=worker.alive, diagnose=worker.tail)
        runs = [
            subprocess.Popen(
                [str(BIN / "dagster"), "job", "execute", "-f", str(DEPLOY / "celery_definitions.py"),
                 "-j", "sync_company", "--tags", json.dumps({"dagster/partition": company})],
                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            for company in COMPANIES
        ]
        for company, process in zip(COMPANIES, runs):
            output, _ = process.communicate(timeout=180)
            assert process.returncode == 0, f"{company}:\n{output.decode(errors='replace')[-4000:]}\n{worker.tail()}"
        worker_processes = descendants(worker.process.pid)
    finally:
        worker.stop()

    instance = dg.DagsterInstance.get()
    records = instance.get_run_records(filters=dg.RunsFilter(job_name="sync_company"))
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == COMPANIES
    assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}

    for record in records:
        run_id = record.dagster_run.run_id
        events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event is not None]
        run_worker = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
        starts = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
        # the raw listing, the five model tables (checks inside), the Teammeter write, the
        # verification report
        assert set(starts) == {"apideck__employees", "org_model", "teammeter_sync",
                               "teammeter__review_report"}
        # Each step ran in a process of the worker, none in the run worker that submitted it ...
        assert run_worker not in set(starts.values())
        assert set(starts.values()) <= worker_processes, (starts, worker_processes)
        # ... and the worker says so, by its name.
        handed = {
            e.step_key: e.event_specific_data.metadata["Celery worker"].value
            for e in events
            if e.event_type == dg.DagsterEventType.ENGINE_EVENT and "in celery worker" in (e.message or "")
        }
        assert set(handed) == set(starts)
        assert set(handed.values()) == {f"{celery_queue}@{socket.gethostname()}"}

    engine = migrated_engine(settings["TEAMMETER_DATABASE_URL"])
    with engine.connect() as conn:
        for company in COMPANIES:
            organisation = registry.get(conn, company)
            assert organisation.first_synced_at is not None, company
            count = conn.execute(sa.select(sa.func.count()).select_from(users)
                                 .where(users.c.organisation_id == organisation.id)).scalar_one()
            assert count > 0, company
    instance.dispose()
