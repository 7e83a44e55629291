"""Change-log retention as a daily job: personal values older than CHANGE_LOG_RETENTION_DAYS
(default 90) are stripped from Teammeter's change log (see store/retention.py). The same
work runs on demand with `personio-pipeline retention`."""

from datetime import datetime, timezone

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.defs.shared.keys import RETENTION_JOB
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.store import retention


@dg.op(description="Replaces names and e-mail addresses in change_log entries older than "
       "CHANGE_LOG_RETENTION_DAYS (default 90) by null.")
def strip_old_change_log_values(context: dg.OpExecutionContext, teammeter_db: TeammeterDatabase) -> dg.Output[int]:
    days = settings.change_log_retention_days()
    now = datetime.now(timezone.utc)
    older_than = retention.cutoff(now, days)
    stripped = retention.strip_personal_values(teammeter_db.engine(), older_than, now=now)
    context.log.info(f"stripped personal values from {stripped} change-log entries before {older_than:%Y-%m-%d %H:%M}Z")
    return dg.Output(stripped, metadata={"entries_stripped": stripped, "retention_days": days,
                                         "older_than": older_than.isoformat(timespec="minutes")})


@dg.job(name=RETENTION_JOB, description="Strip personal values from change-log entries older than "
        "CHANGE_LOG_RETENTION_DAYS (default 90).")
def change_log_retention_job():
    strip_old_change_log_values()


change_log_retention_schedule = dg.ScheduleDefinition(
    name=RETENTION_JOB,
    job=change_log_retention_job,
    cron_schedule="15 4 * * *",
    execution_timezone="Europe/Berlin",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 04:15, before the daily sync: change-log retention (CHANGE_LOG_RETENTION_DAYS, default 90).",
)
