"""Failed company syncs: recorded in Teammeter's `sync_runs` and shown on the company's partition.

Successes are recorded by the sync itself (in its transaction); a failure can happen anywhere
(Apideck, a blocking check, the safeguard, the database), so this sensor records it from the
failed run: the failing step and its message, without e-mail addresses or secrets. The row is
keyed by run id, so a replayed tick adds nothing. The same failure is reported to Dagster as an
observation of `teammeter/users` for the company's partition (visible on the asset's page and in
its partition view next to the successful materialisations).

It watches this code location only: `personio-pipeline sync` submits its run to the instance
from this code location. Where the CLI runs a sync in its own process instead (no daemon, or
`--in-process`), it records a failure itself through `record_sync_failure`, as this sensor would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import dagster as dg

from personio_pipeline.defs.invitations.assets import INVITATIONS, invite_company_job
from personio_pipeline.defs.shared.jobs import SYNC_JOB_NAME
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.common.logs import error_summary
from personio_pipeline.common.redaction import redact, secrets_from_env
from personio_pipeline.companies import sync_runs
from personio_pipeline.companies.registry import UnknownCompanyError

PARTITION_TAG = "dagster/partition"
SYNC_LAYERS = ("apideck", "org", "teammeter")
STATUS_ASSET = dg.AssetKey(["teammeter", "users"])
METADATA_ERROR_LIMIT = 1000
# Step keys of the sync graph: apideck__employees, org__employees, org_structure (teams, units,
# roles, reporting lines) and the Teammeter write.
SYNC_STEP_PREFIXES = ("apideck__", "org__", "org_structure")
SYNC_WRITE_STEP = "teammeter_sync"


def is_company_sync(
    job_name: str,
    tags: Mapping[str, str],
    asset_selection: Iterable[dg.AssetKey] | None,
    step_keys: Iterable[str] | None = None,
) -> bool:
    """A run of one company's sync: the `sync_company` job, or an asset run of a company
    partition that selects any asset of the sync graph (UI, `dagster asset materialize`), or,
    for runs that record steps but no asset selection (`dg.materialize`), executes a sync step."""
    if not tags.get(PARTITION_TAG) or job_name == invite_company_job.name:
        return False
    if job_name == SYNC_JOB_NAME:
        return True
    if asset_selection:
        return any(key.path[0] in SYNC_LAYERS and key != INVITATIONS for key in asset_selection)
    return any(step == SYNC_WRITE_STEP or step.startswith(SYNC_STEP_PREFIXES) for step in step_keys or ())


def failure_details(context: dg.RunFailureSensorContext) -> tuple[str | None, str]:
    return failure_details_from(context.get_step_failure_events(), context.failure_event)


def failure_details_from(step_failures: Iterable[dg.DagsterEvent], run_failure: dg.DagsterEvent | None) -> tuple[str | None, str]:
    """The first failing step and what went wrong there (a `dg.Failure`'s description, which
    names the company and the remedy; else the innermost exception's type and message); the run's
    own failure message when no step failed (e.g. the run worker died)."""
    for event in step_failures:
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return event.step_key, data.user_failure_data.description
        if data.error is not None:
            return event.step_key, error_summary(data.error)
    if run_failure is None:
        return None, "run failed"
    error = getattr(run_failure.event_specific_data, "error", None)
    return None, error_summary(error) if error is not None else (run_failure.message or "run failed")


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc) if timestamp else None


@dg.run_failure_sensor(
    name="sync_failure_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed company sync of this code location in Teammeter (sync_runs, "
    "company_sync_status) and as an observation of teammeter/users on the company's partition.",
)
def sync_failure_sensor(context: dg.RunFailureSensorContext, teammeter_db: TeammeterDatabase):
    run = context.dagster_run
    if not is_company_sync(run.job_name, run.tags, run.asset_selection, run.step_keys_to_execute):
        return None
    step, error = failure_details(context)
    record_sync_failure(context.instance, run, step, error, teammeter_db.engine(), context.log)
    return None


def record_sync_failure(
    instance: dg.DagsterInstance, run: dg.DagsterRun, step: str | None, error: str, engine, log
) -> bool:
    """Record the failed sync `run` in Teammeter's sync_runs and as an observation of
    teammeter/users on the company's partition; False when it was recorded already."""
    company = run.tags[PARTITION_TAG]
    error = redact(error, secrets_from_env(), sync_runs.ERROR_MESSAGE_LIMIT)
    record = instance.get_run_record_by_id(run.run_id)
    finished_at = _time(record.end_time if record else None) or datetime.now(timezone.utc)
    metadata = {
        "sync_status": "failed",
        "run_id": dg.MetadataValue.dagster_run(run.run_id),
        "failed_step": step or "(run)",
        "error": redact(error, limit=METADATA_ERROR_LIMIT),
    }
    try:
        with engine.begin() as conn:
            started_at = _time(record.start_time if record else None)
            recorded = sync_runs.record_failure(
                conn, company, run.run_id, finished_at=finished_at, started_at=started_at, failed_step=step, error=error
            )
            (summary,) = sync_runs.company_status(conn, company)
    except UnknownCompanyError:
        log.warning(
            f"company '{company}': sync run {run.run_id} failed, but the company is not registered in "
            "Teammeter, so the failure is not recorded there; register it with `personio-pipeline tenants add`"
        )
    else:
        if not recorded:  # a replayed tick: recorded and reported already
            return False
        metadata["consecutive_failures"] = summary.consecutive_failures
        metadata["last_success"] = summary.last_success_at.isoformat() if summary.last_success_at else "never"
        log.info(f"company '{company}': failed sync run {run.run_id} recorded (step {step or '(run)'})")
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=STATUS_ASSET,
            partition=company,
            description=f"Sync of company '{company}' failed in step {step or '(run)'}.",
            metadata=metadata,
        )
    )
    return True
