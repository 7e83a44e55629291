"""The one place that assembles the project's `dg.Definitions`."""

import dagster as dg

from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.invitations.assets import (
    invitations_delivered,
    invite_company_job,
    teammeter_invitations,
)
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.store.review_report import review_report
from personio_pipeline.defs.store.assets import teammeter_sync
from personio_pipeline.defs.lifecycle.connection_sensor import connection_sensor
from personio_pipeline.defs.invitations.sensor import invitation_sensor
from personio_pipeline.defs.shared.jobs import sync_company_job
from personio_pipeline.defs.shared.resources import default_resources
from personio_pipeline.defs.lifecycle.retention import change_log_retention_job, change_log_retention_schedule
from personio_pipeline.defs.lifecycle.schedules import daily_sync
from personio_pipeline.defs.alerts.sensors import held_back_alerts, missing_email_alerts
from personio_pipeline.defs.lifecycle.sync_failure_sensor import sync_failure_sensor
from personio_pipeline.defs.webhooks.sensor import webhook_sensor
from personio_pipeline.common.logs import configure_python_logging, run_loggers



def build_defs() -> dg.Definitions:
    """The definitions with resources read from the environment now (the CLI calls this per
    command, so a changed environment is honoured within one process)."""
    configure_python_logging()
    return dg.Definitions(
        assets=[raw_employees, *org_assets, teammeter_sync, review_report, teammeter_invitations],
        asset_checks=[invitations_delivered],
        jobs=[sync_company_job, invite_company_job, change_log_retention_job],
        sensors=[missing_email_alerts, held_back_alerts, connection_sensor, invitation_sensor, sync_failure_sensor,
                 webhook_sensor],
        schedules=[daily_sync, change_log_retention_schedule],
        resources=default_resources(),
        # A company run is a short chain of steps: one process per run (one pod per run on
        # Kubernetes) is much cheaper than a process per step.
        executor=dg.in_process_executor,
        # PERSONIO_LOG_FORMAT=json: run logs as JSON lines (personio_pipeline/common/logs.py).
        loggers=run_loggers(),
    )


defs = build_defs()
