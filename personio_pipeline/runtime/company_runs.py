"""Running one company's job (by default the sync) from outside Dagster's daemon: in this process
on the instance (the demo, no daemon running, `--in-process`), or submitted to the instance's run
queue from this project's code location and followed to its end (`instance_runs.py`). Either way
the run is tagged with the company's partition and `personio_pipeline/trigger=cli`, and shows in
the UI like any other."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dagster as dg
import sqlalchemy as sa

from personio_pipeline.common import settings
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.definitions import current_defs
from personio_pipeline.defs.shared.keys import PARTITION_TAG, SYNC_JOB, TRIGGER_TAG
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.runtime.instance_runs import code_location_workspace, follow, submit
from personio_pipeline.runtime.run_failures import failure_details_from, is_company_sync, record_sync_failure

CLI_TRIGGER = "cli"
log = logging.getLogger("personio_pipeline.cli")


def require_partition(instance: dg.DagsterInstance, consumer_id: str) -> None:
    """Raise `UnknownCompanyError` unless the company has its partition on this instance."""
    if not instance.has_dynamic_partition(companies.name, consumer_id):
        raise UnknownCompanyError(consumer_id)


def run_in_process(
    instance: dg.DagsterInstance,
    consumer_id: str,
    engine: Callable[[], sa.Engine],
    *,
    job_name: str = SYNC_JOB,
    run_config: dict[str, Any] | None = None,
    verbose: bool = True,
) -> dg.ExecuteInProcessResult:
    """Run the company's `job_name` in this process on `instance`, with the definitions as the
    environment makes them now. Not `verbose`: Dagster's console log (which prints every
    failure's stack trace) stays quiet and the caller says what happened; JSON logs (no traces)
    always flow. A failed sync is recorded in Teammeter (`engine`), as the failure sensor records
    the instance's runs."""
    require_partition(instance, consumer_id)
    job = current_defs().resolve_job_def(job_name)
    log_level = "INFO" if verbose or settings.json_logs_enabled() else "CRITICAL"
    result = job.execute_in_process(
        instance=instance,
        partition_key=consumer_id,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}, **(run_config or {})},
        raise_on_error=False,
        tags={TRIGGER_TAG: CLI_TRIGGER},
    )
    if not result.success:
        record_in_process_failure(instance, result, engine)
    return result


def record_in_process_failure(
    instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, engine: Callable[[], sa.Engine]
) -> None:
    """A sync run in this process has no code location, so the failure sensor does not see it:
    record its failure in Teammeter here."""
    run = instance.get_run_by_id(result.run_id)
    if run is None or not is_company_sync(run.job_name, run.tags, run.asset_selection, run.step_keys_to_execute):
        return
    events = result.all_events
    step, error = failure_details_from(
        [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE],
        next((e for e in events if e.event_type == dg.DagsterEventType.RUN_FAILURE), None),
    )
    record_sync_failure(instance, run, step, error, engine(), log)


def submit_and_follow(
    instance: dg.DagsterInstance,
    consumer_id: str,
    job_name: str,
    run_config: dict[str, Any],
    workspace_file: str | None,
    *,
    on_submitted: Callable[[dg.DagsterRun], None],
    on_event: Callable[[dg.DagsterEvent], None],
    on_status: Callable[[dg.DagsterRunStatus], None],
) -> dg.DagsterRun:
    """Submit the company's run to the instance's run queue and follow it until it has finished;
    the finished run. Interrupting the follower (Ctrl-C) leaves the run going."""
    with code_location_workspace(instance, workspace_file) as workspace:
        run = submit(instance, workspace, job_name, run_config, {PARTITION_TAG: consumer_id, TRIGGER_TAG: CLI_TRIGGER})
    on_submitted(run)
    return follow(instance, run.run_id, on_event=on_event, on_status=on_status)
