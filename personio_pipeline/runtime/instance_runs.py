"""Runs the CLI starts on the Dagster instance: submitted to its run queue (tags, the per-company
limit, pools, the configured run launcher, e.g. a pod per run on Kubernetes), from this project's
code location, then followed event by event until they finish.

A queued run starts only when the `dagster-daemon` dequeues it, so submitting is only offered
when a daemon is heartbeating on the instance; otherwise the CLI runs the job in its own process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget

LOCATION_NAME = "personio_pipeline"  # as in workspace.yaml, deploy/workspace.yaml and pyproject.toml
DEFINITIONS_MODULE = "personio_pipeline.definitions"
# The daemon heartbeats every 30 s; two missed beats and it counts as not running.
HEARTBEAT_TOLERANCE_SECONDS = 75
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
FOLLOWED_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_UP_FOR_RETRY,
    dg.DagsterEventType.STEP_RESTARTED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.RUN_FAILURE,
}


def why_not_through_instance(instance: dg.DagsterInstance, now: float | None = None) -> str | None:
    """None when a submitted run would be started: the instance queues runs and its daemon is
    alive. Otherwise the reason, for the CLI to print before it runs the job in process."""
    if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
        return "this instance does not queue runs (no QueuedRunCoordinator in its dagster.yaml)"
    heartbeat = instance.get_daemon_heartbeats().get(QUEUE_DAEMON)
    if heartbeat is None:
        return "no dagster-daemon has ever run on this instance"
    age = (now or time.time()) - heartbeat.timestamp
    if age > HEARTBEAT_TOLERANCE_SECONDS:
        return f"no dagster-daemon is running on this instance (last heartbeat {age:.0f} s ago)"
    return None


@contextmanager
def code_location_workspace(instance: dg.DagsterInstance, workspace_file: str | None) -> Iterator[WorkspaceRequestContext]:
    """The project's code location as the daemon knows it: from `workspace_file` when given (the
    deployment's workspace.yaml), else the definitions module under the same location name."""
    if workspace_file:
        target = WorkspaceFileTarget(paths=[workspace_file])
    else:
        target = ModuleTarget(module_name=DEFINITIONS_MODULE, attribute=None, working_directory=os.getcwd(),
                              location_name=LOCATION_NAME)
    with WorkspaceProcessContext(instance, target) as process_context:
        yield process_context.create_request_context()


def submit(
    instance: dg.DagsterInstance,
    workspace: WorkspaceRequestContext,
    job_name: str,
    run_config: Mapping[str, Any],
    tags: Mapping[str, str],
) -> dg.DagsterRun:
    """Create the run of `job_name` from the code location and hand it to the run coordinator."""
    location = workspace.get_code_location(LOCATION_NAME)
    (repository,) = location.get_repositories().values()
    remote_job = repository.get_full_job(job_name)
    plan = location.get_execution_plan(remote_job, run_config, step_keys_to_execute=None, known_state=None,
                                       instance=instance)
    run = instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=None,
        step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**remote_job.tags, **tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )
    return instance.submit_run(run.run_id, workspace)


def follow(
    instance: dg.DagsterInstance,
    run_id: str,
    on_event: Callable[[dg.DagsterEvent], None],
    on_status: Callable[[dg.DagsterRunStatus], None],
    poll_seconds: float = 1.0,
) -> dg.DagsterRun:
    """Report the run's status changes and its step and asset events until it has finished."""
    cursor, status = None, None
    while True:
        run = instance.get_run_by_id(run_id)  # before the events: a finished run's are all stored
        while True:
            page = instance.get_records_for_run(run_id, cursor=cursor, of_type=FOLLOWED_EVENTS, limit=200)
            for record in page.records:
                if record.event_log_entry.dagster_event is not None:
                    on_event(record.event_log_entry.dagster_event)
            cursor = page.cursor
            if not page.has_more:
                break
        if run.status != status:
            status = run.status
            on_status(status)
        if run.is_finished:
            return run
        time.sleep(poll_seconds)
