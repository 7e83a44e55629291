"""Instance housekeeping, as its own code location (`maintenance`): deletes finished runs older
than `RUN_RETENTION_DAYS` (default 30) with their event logs and captured stdout/stderr.

Dagster's `retention:` setting in dagster.yaml purges schedule and sensor ticks only; runs and
their logs grow without bound otherwise. This follows Dagster's own recipe: a daily schedule
that calls `instance.delete_run`. Runs still queued, starting or in progress are never touched.

What is lost with an old run: its logs and its materialisation events. Asset partitions keep
their latest materialisation as long as the company was synced within the retention window,
which the daily schedule guarantees for every company with auto-sync on.
"""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
BATCH = 500


def retention_days() -> int:
    return int(os.environ.get("RUN_RETENTION_DAYS", "30"))


def purge_runs(instance: dg.DagsterInstance, older_than: datetime, *, batch: int = BATCH) -> list[str]:
    """Delete every finished run last updated before `older_than`; returns the deleted run ids."""
    deleted: list[str] = []
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=FINISHED, updated_before=older_than), limit=batch
        )
        if not records:
            return deleted
        for record in records:
            run_id = record.dagster_run.run_id
            instance.delete_run(run_id)  # run row and its event log
            instance.compute_log_manager.delete_logs(prefix=[run_id])  # captured stdout/stderr
            deleted.append(run_id)


@dg.op(description="Deletes finished runs older than RUN_RETENTION_DAYS with their logs.")
def purge_old_runs(context: dg.OpExecutionContext) -> dg.Output[int]:
    days = retention_days()
    cutoff = datetime.now(timezone.utc) - timedelta(days=days)
    deleted = purge_runs(context.instance, cutoff)
    context.log.info(f"deleted {len(deleted)} runs finished before {cutoff.isoformat(timespec='minutes')}")
    return dg.Output(len(deleted), metadata={"deleted_runs": len(deleted), "retention_days": days})


@dg.job(description="Run retention: delete old finished runs, their event logs and compute logs.")
def purge_old_runs_job():
    purge_old_runs()


purge_old_runs_schedule = dg.ScheduleDefinition(
    name="purge_old_runs",
    job=purge_old_runs_job,
    cron_schedule="30 3 * * *",
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:30: run retention (RUN_RETENTION_DAYS, default 30).",
)

defs = dg.Definitions(jobs=[purge_old_runs_job], schedules=[purge_old_runs_schedule])
