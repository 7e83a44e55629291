"""The daily sync: one run per connected company with auto-sync on and a first sync behind it,
at the company's own hour in its own time zone (`tenants set ID --timezone … --sync-hour …`;
DAILY_SYNC_TIMEZONE and DAILY_SYNC_HOUR for the others). The schedule ticks every hour
(DAILY_SYNC_CRON); a company is due on the first tick at or after its hour (`clock.due_day`).

`build_schedule_from_partitioned_job` does not take dynamic partitions, so the schedule reads
the companies itself. Run keys are the company's date plus the company, so the later ticks of
the same day, or a tick evaluated twice, never launch a company twice. The `apideck` and `teammeter_write` pools (see the instance's
dagster.yaml) and the run queue keep hundreds of runs from swamping Apideck or the database.
Companies left out (connection not working, auto-sync off, removed …) are named in the tick's
log with the reason, the same reason `personio-pipeline status` shows.
"""

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.companies import clock, connection_health, registry
from personio_pipeline.defs.shared.jobs import sync_company_job
from personio_pipeline.defs.shared.keys import TRIGGER_TAG
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase


@dg.schedule(
    name="daily_sync",
    job=sync_company_job,
    cron_schedule=settings.daily_sync_cron(),  # DAILY_SYNC_CRON (default: hourly), read when the definitions load
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily sync of every connected company with auto-sync on (after its first, manual sync), at "
    "the company's hour in its time zone; companies whose connection is invalid, revoked or disabled are "
    "skipped until they reconnect.",
)
def daily_sync(context: dg.ScheduleEvaluationContext, teammeter_db: TeammeterDatabase):
    with teammeter_db.engine().connect() as conn:
        registered = registry.list_all(conn)
    partitions = set(context.instance.get_dynamic_partitions(companies.name))
    tick = context.scheduled_execution_time
    requests, skipped, later = [], [], 0
    for company in registered:
        reason = connection_health.daily_sync_blocker(company)
        if reason is None and company.consumer_id not in partitions:
            reason = "no partition on this instance (`personio-pipeline tenants add` adds it)"
        if reason is not None:
            skipped.append(f"{company.consumer_id}: {reason}")
            continue
        day = clock.due_day(company.timezone, company.sync_hour, tick)
        if day is None:  # its hour has not come yet today
            later += 1
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"daily-{day.isoformat()}-{company.consumer_id}",
                partition_key=company.consumer_id,
                tags={TRIGGER_TAG: "daily_sync"},
            )
        )
    if skipped:
        context.log.info(f"daily sync skips {len(skipped)} companies:\n" + "\n".join(skipped))
    if requests:
        return requests
    waiting = f"{later} companies wait for their hour" if later else ""
    return dg.SkipReason("; ".join(filter(None, ["no company is due for the daily sync", waiting, *skipped])))
