"""Failed company runs: whether a run is one company's sync, what failed in it, and recording the
failure in Teammeter's `sync_runs` and as an observation of `teammeter/users` on the company's
partition. The failure sensor (`defs/lifecycle/sync_failure_sensor.py`) does it for the runs of the
instance; the CLI for a sync it ran in its own process, which no sensor sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import dagster as dg

from personio_pipeline.common.clock import utc_now
from personio_pipeline.common.logs import error_summary
from personio_pipeline.common.redaction import redact, secrets_from_env
from personio_pipeline.companies import sync_runs
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.defs.shared.keys import (
    INVITATIONS,
    INVITE_JOB,
    PARTITION_TAG,
    SYNC_JOB,
    SYNC_LAYERS,
    SYNC_STEP_PREFIXES,
    SYNC_WRITE_STEP,
    TEAMMETER_USERS,
)

METADATA_ERROR_LIMIT = 1000


def is_company_sync(
    job_name: str,
    tags: Mapping[str, str],
    asset_selection: Iterable[dg.AssetKey] | None,
    step_keys: Iterable[str] | None = None,
) -> bool:
    """A run of one company's sync: the `sync_company` job, or an asset run of a company
    partition that selects any asset of the sync graph (UI, `dagster asset materialize`), or,
    for runs that record steps but no asset selection (`dg.materialize`), executes a sync step."""
    if not tags.get(PARTITION_TAG) or job_name == INVITE_JOB:
        return False
    if job_name == SYNC_JOB:
        return True
    if asset_selection:
        return any(key.path[0] in SYNC_LAYERS and key != INVITATIONS for key in asset_selection)
    return any(step == SYNC_WRITE_STEP or step.startswith(SYNC_STEP_PREFIXES) for step in step_keys or ())


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


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc) if timestamp else None


def record_sync_failure(
    instance: dg.DagsterInstance, run: dg.DagsterRun, step: str | None, error: str, engine, log
) -> bool:
    """Record the failed sync `run` in Teammeter's sync_runs and as an observation of
    teammeter/users on the company's partition; False when it was recorded already."""
    company = run.tags[PARTITION_TAG]
    error = redact(error, secrets_from_env(), sync_runs.ERROR_MESSAGE_LIMIT)
    record = instance.get_run_record_by_id(run.run_id)
    finished_at = _time(record.end_time if record else None) or utc_now()
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
            asset_key=TEAMMETER_USERS,
            partition=company,
            description=f"Sync of company '{company}' failed in step {step or '(run)'}.",
            metadata=metadata,
        )
    )
    return True
