"""`personio-pipeline sync` and `invitations send` as an operator runs them: with a
`dagster-daemon` on the instance they submit the run to its queue and follow it to the end (the
daemon launches it, not the CLI); without a daemon, or with `--in-process`, they say so and run
the job in their own process. The CLI runs as a real process, like on an operator's shell.

The instance is the embedded default's (personio_pipeline/runtime/dagster_local.yaml: run queue, one
run per company at a time); the production instance on PostgreSQL has the same queue and limit
(production/test_daemon_postgres.py).
"""

from __future__ import annotations

import os
import subprocess

import dagster as dg
import pytest
from click.testing import CliRunner

from personio_pipeline import cli
from personio_pipeline.companies import sync_runs
from personio_pipeline.runtime.instance_runs import LOCATION_NAME, why_not_through_instance
from personio_pipeline.store.db import migrated_engine
from personio_pipeline_tests.support.processes import BIN, REPO, Child, child_env, wait_for
from personio_pipeline_tests.support.production import max_overlap

COMPANY = "cli-co"


def cli_process(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "personio-pipeline"), *args], env=child_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def event_pids(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> set[int]:
    return {record.dagster_event.pid for record in instance.all_logs(run_id, of_type=kind)}


@pytest.fixture
def registered(pipeline_env, sandbox):
    sandbox.config.company_sizes = {COMPANY: 40}
    result = CliRunner().invoke(cli.main, ["tenants", "add", COMPANY, "--name", "CLI GmbH"])
    assert result.exit_code == 0, result.output
    return pipeline_env


@pytest.fixture
def daemon(registered, tmp_path):
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: personio_pipeline.definitions\n"
        f"      location_name: {LOCATION_NAME}\n      working_directory: {REPO}\n"
    )
    process = Child([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], child_env(), tmp_path / "daemon.log")
    instance = dg.DagsterInstance.get()
    try:
        wait_for("the daemon's run queue heartbeats", lambda: why_not_through_instance(instance) is None,
                 timeout=90, alive=process.alive, diagnose=process.tail)
        yield instance
    finally:
        process.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)  # several processes start one after the other; slow on a loaded machine
def test_sync_and_invitations_go_through_the_daemons_queue(daemon, sandbox):
    instance = daemon
    # Two syncs of one company at once: both are queued, the per-company limit runs them one
    # after the other, and each CLI follows its own run to the end.
    first, second = cli_process("sync", COMPANY), cli_process("sync", COMPANY)
    outputs = [finish(first), finish(second)]
    for code, output in outputs:
        assert code == 0, output[-4000:]
        assert "submitted to the instance's run queue" in output and "run queued" in output
        assert "step teammeter_sync started" in output and "teammeter/users" in output
        assert f"sync_company of '{COMPANY}' succeeded" in output
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={"personio_pipeline/trigger": "cli"}))
    assert len(runs) == 2 and {r.dagster_run.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
    assert max_overlap([(r.start_time, r.end_time) for r in runs]) == 1
    for record in runs:
        run = record.dagster_run
        assert run.tags["dagster/partition"] == COMPANY
        assert run.remote_job_origin.location_name == LOCATION_NAME  # what the failure sensor watches
        # The daemon launched the run: its worker is none of the CLI processes.
        assert event_pids(instance, run.run_id, dg.DagsterEventType.RUN_START).isdisjoint({first.pid, second.pid})

    # A refused key: the run fails in the daemon's worker; the CLI shows why and exits 1.
    sandbox.queue_faults([{"status": 401}])
    code, output = finish(cli_process("sync", COMPANY))
    assert code == 1, output[-4000:]
    assert "step apideck__employees failed" in output and "HTTP 401" in output
    assert f"sync_company of '{COMPANY}' FAILED" in output
    (failed,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))

    # Invitations of the verified company, through the queue as well (file outbox: no SMTP_HOST).
    assert CliRunner().invoke(cli.main, ["verify", COMPANY]).exit_code == 0
    code, output = finish(cli_process("invitations", "send", COMPANY))
    assert code == 0, output[-4000:]
    assert "run queued" in output and "teammeter/invitations" in output and "invite_company" in output

    # --in-process runs here even though a daemon is up.
    code, output = finish(cli_process("sync", COMPANY, "--in-process"))
    assert code == 0, output[-4000:]
    assert "--in-process: running sync_company" in output and "run queued" not in output

    # The daemon's failure sensor (every 30 s), watching this code location only, saw the CLI's
    # failed run and recorded it.
    def recorded() -> bool:
        with migrated_engine(os.environ["TEAMMETER_DATABASE_URL"]).connect() as conn:
            return any(row["run_id"] == failed.run_id and row["failed_step"] == "apideck__employees"
                       for row in sync_runs.attempts(conn, COMPANY))

    wait_for("sync_failure_sensor records the failed CLI run", recorded, timeout=120, interval=2)


@pytest.mark.slow  # a CLI sync through the whole graph
def test_without_a_daemon_the_cli_says_so_and_runs_in_process(registered):
    result = CliRunner().invoke(cli.main, ["sync", COMPANY])
    assert result.exit_code == 0, result.output
    assert "no dagster-daemon has ever run on this instance: running sync_company" in result.output
    assert f"sync_company for '{COMPANY}' succeeded" in result.output
    (run,) = dg.DagsterInstance.get().get_runs()
    assert run.remote_job_origin is None and run.tags["personio_pipeline/trigger"] == "cli"
    assert event_pids(dg.DagsterInstance.get(), run.run_id, dg.DagsterEventType.RUN_START) == {os.getpid()}


@pytest.mark.slow  # a CLI sync through the whole graph
def test_a_failed_sync_in_process_is_recorded_like_the_sensor_records_queued_ones(registered, sandbox):
    """No daemon, so no failure sensor either: the CLI records the failed run in sync_runs."""
    import json

    sandbox.queue_faults([{"status": 401}])
    result = CliRunner().invoke(cli.main, ["sync", COMPANY])
    assert result.exit_code == 1, result.output
    (run,) = dg.DagsterInstance.get().get_runs()
    status = CliRunner().invoke(cli.main, ["status", "--company", COMPANY, "--format", "json"])
    (row,) = json.loads(status.output)
    assert row["failing"] and row["consecutive_failures"] == 1
    assert row["last_failure_step"] == "apideck__employees" and "401" in row["last_failure_error"]
    assert row["last_attempt_status"] == "failed"
    assert row["last_failure_run_id"] == run.run_id
