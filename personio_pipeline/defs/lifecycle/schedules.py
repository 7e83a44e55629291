"""The daily sync: one run per connected company with auto-sync on and a first sync behind it.

`build_schedule_from_partitioned_job` does not take dynamic partitions, so the schedule reads
the companies itself. Run keys are the date plus the company, so a tick evaluated twice never
launches a company twice. The `apideck` and `teammeter_write` pools (see the instance's
dagster.yaml) and the run queue keep hundreds of runs from swamping Apideck or the database.
Companies left out (connection not working, auto-sync off, removed …) are named in the tick's
log with the reason, the same reason `personio-pipeline status` shows.
"""

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.companies import connection_health, registry
from personio_pipeline.defs.shared.jobs import sync_company_job
from personio_pipeline.defs.shared.keys import TRIGGER_TAG
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase


@dg.schedule(
    name="daily_sync",
    job=sync_company_job,
    cron_schedule=settings.daily_sync_cron(),  # DAILY_SYNC_CRON, read when the definitions load
    execution_timezone=settings.daily_sync_timezone(),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily sync of every connected company with auto-sync on (after its first, manual sync); "
    "companies whose connection is invalid, revoked or disabled are skipped until they reconnect.",
)
def daily_sync(context: dg.ScheduleEvaluationContext, teammeter_db: TeammeterDatabase):
    with teammeter_db.engine().connect() as conn:
        registered = registry.list_all(conn)
    partitions = set(context.instance.get_dynamic_partitions(companies.name))
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    requests, skipped = [], []
    for company in registered:
        reason = connection_health.daily_sync_blocker(company)
        if reason is None and company.consumer_id not in partitions:
            reason = "no partition on this instance (`personio-pipeline tenants add` adds it)"
        if reason is not None:
            skipped.append(f"{company.consumer_id}: {reason}")
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"daily-{day}-{company.consumer_id}",
                partition_key=company.consumer_id,
                tags={TRIGGER_TAG: "daily_sync"},
            )
        )
    if skipped:
        context.log.info(f"daily sync skips {len(skipped)} companies:\n" + "\n".join(skipped))
    if requests:
        return requests
    return dg.SkipReason("no company is due for the daily sync" + (": " + "; ".join(skipped) if skipped else ""))
