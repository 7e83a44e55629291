"""Failed company syncs: recorded in Teammeter's `sync_runs` and shown on the company's partition.

Successes are recorded by the sync itself (in its transaction); a failure can happen anywhere
(Apideck, a blocking check, the safeguard, the database), so this sensor records it from the
failed run: the failing step and its message, without e-mail addresses or secrets. The row is
keyed by run id, so a replayed tick adds nothing. The same failure is reported to Dagster as an
observation of `teammeter/users` for the company's partition (visible on the asset's page and in
its partition view next to the successful materialisations).

It watches this code location only: `personio-pipeline sync` submits its run to the instance
from this code location. Where the CLI runs a sync in its own process instead (no daemon, or
`--in-process`), it records a failure itself through `runtime/run_failures.py`, as this sensor does.
"""

from __future__ import annotations

import dagster as dg

from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.runtime.run_failures import failure_details_from, is_company_sync, record_sync_failure


def failure_details(context: dg.RunFailureSensorContext) -> tuple[str | None, str]:
    return failure_details_from(context.get_step_failure_events(), context.failure_event)


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
