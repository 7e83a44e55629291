"""Launches the invitation job for companies with something to send.

Each tick reads, in two queries for all companies, the verified companies with eligible users
or pending invitations whose retry backoff has passed (`due.due_work`). A company's run key
is derived from exactly what is due, so Dagster requests an unchanged situation only once, and
a new hire, an email added by a coach, or a retry that became due gives a new run.
"""

from datetime import datetime, timezone

import dagster as dg

from personio_pipeline.defs.shared.jobs import invite_company_job
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import TeammeterDatabase
from personio_pipeline.invitations.due import due_work


@dg.sensor(
    name="invitation_sensor",
    job=invite_company_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the invitation job for each verified company with users to invite or retries due.",
)
def invitation_sensor(context: dg.SensorEvaluationContext, teammeter_db: TeammeterDatabase):
    with teammeter_db.engine().connect() as conn:
        work = due_work(conn, datetime.now(timezone.utc))
    if not work:
        return dg.SkipReason("no verified company has users to invite or retries due")
    known = set(context.instance.get_dynamic_partitions(companies.name))
    unknown = sorted(set(work) - known)
    if unknown:
        context.log.warning(f"invitations due but no partition on this instance for: {', '.join(unknown)}")
    requests = [
        dg.RunRequest(
            partition_key=consumer_id,
            run_key=f"{consumer_id}:{due.fingerprint()}",
            tags={"invitations/eligible": str(len(due.eligible)), "invitations/retries": str(len(due.retries))},
        )
        for consumer_id, due in sorted(work.items())
        if consumer_id in known
    ]
    if not requests:
        return dg.SkipReason(f"invitations due only for companies without a partition: {', '.join(unknown)}")
    return dg.SensorResult(run_requests=requests)
