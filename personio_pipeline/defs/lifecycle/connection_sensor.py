"""Watches Apideck Vault for the connection state of every company in the pipeline.

Companies not connected are checked on every tick; connected ones at least every
`CONNECTION_RECHECK_HOURS` (default 12) and on the first tick after a failed sync (the failure
sensor records it in `sync_runs`; a 401 from Apideck usually means revoked or invalid access).
A connection that stops working (invalid, revoked, disabled, or gone back to a state that needs
the admin) is recorded, the data team is alerted once per state, and the daily schedule skips the
company (reason in `personio-pipeline status`) until Vault reports it callable again.

When a connection becomes callable for the first time the company's partition is added. The
first sync is deliberately not started: the data team launches it by hand (UI: materialise the
partition; CLI: `personio-pipeline sync ID`) once they are ready to review.
"""

import time

import dagster as dg

from personio_pipeline.apideck.errors import ApideckError
from personio_pipeline.common import settings
from personio_pipeline.common.clock import utc_now
from personio_pipeline.companies import connection_health, registry
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, DataTeamAlerts, TeammeterDatabase
from personio_pipeline.notify.alerts import ConnectionAlert

CHECKS_PER_TICK = 50
# Vault calls stop after this many seconds so a tick ends well inside Dagster's 60 s limit; the
# companies left over are the least recently checked on the next tick.
TICK_BUDGET_SECONDS = 30.0


def observed_state(status) -> str:
    """The state to record: Vault's state, with 'disabled' for a callable but switched-off
    connection and 'revoked' when Vault's health says so (the state is then `added`)."""
    if status.state == connection_health.CONNECTED and not status.enabled:
        return "disabled"
    if status.health == "revoked":
        return "revoked"
    return status.state


@dg.sensor(
    name="connection_sensor",
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Checks Vault connection states (companies not connected every tick, connected ones "
    "every CONNECTION_RECHECK_HOURS and after a failed sync); alerts the data team once when a "
    "connection stops working; adds a company's partition once its connection is callable.",
)
def connection_sensor(
    context: dg.SensorEvaluationContext,
    apideck: ApideckResource,
    teammeter_db: TeammeterDatabase,
    data_team_alerts: DataTeamAlerts,
):
    engine = teammeter_db.engine()
    with engine.connect() as conn:
        due = connection_health.due_for_connection_check(conn, utc_now(), settings.connection_recheck_after(), CHECKS_PER_TICK)
    known = set(context.instance.get_dynamic_partitions(companies.name))
    connected, checked, changed = [], 0, 0
    started = time.monotonic()
    if due:
        with apideck.vault_client(logger=context.log) as vault:
            for company in due:
                if time.monotonic() - started > TICK_BUDGET_SECONDS:
                    break
                try:
                    status = vault.connection_status(company.consumer_id, company.service_id)
                except ApideckError as error:  # not recorded as checked: asked again next tick
                    context.log.warning(str(error))
                    continue
                checked += 1
                state = observed_state(status)
                with engine.begin() as conn:
                    state_changed = connection_health.record_connection_check(conn, company.consumer_id, state)
                if state_changed:
                    changed += 1
                    _log_change(context, company, state)
                if status.syncable and company.consumer_id not in known:
                    connected.append(company.consumer_id)
    alerted = _alert_problems(context, engine, data_team_alerts)
    summary = f"checked {checked} of {len(due)} companies due, {changed} changed, {alerted} alerted"
    if not connected:
        return dg.SkipReason(summary)
    context.log.info(summary)
    return dg.SensorResult(dynamic_partitions_requests=[companies.build_add_request(connected)])


def _log_change(context: dg.SensorEvaluationContext, company: registry.Company, state: str) -> None:
    consumer_id = company.consumer_id
    if state == connection_health.CONNECTED and company.first_synced_at is None:
        context.log.info(
            f"company '{consumer_id}' is connected; launch its first sync by hand: "
            f"`personio-pipeline sync {consumer_id}` or materialise the partition in the UI"
        )
    elif state == connection_health.CONNECTED:
        context.log.info(f"company '{consumer_id}' is connected again; the daily sync resumes")
    elif connection_health.needs_reauthorisation(state, company.first_synced_at):
        context.log.warning(
            f"company '{consumer_id}': Personio connection is {state}; the daily sync skips it. Ask the "
            f"customer's admin to re-authorise it (`personio-pipeline connect {consumer_id} --name ...` "
            "creates a new link)"
        )
    else:
        context.log.info(f"company '{consumer_id}': connection state {state}")


def _alert_problems(context: dg.SensorEvaluationContext, engine, data_team_alerts: DataTeamAlerts) -> int:
    """Tell the data team about each connection problem not yet reported; a delivery that fails
    is tried again on the next tick. Without a channel the problem is logged once."""
    with engine.connect() as conn:
        problems = connection_health.unalerted_connection_problems(conn)
    sent = 0
    for company in problems:
        since = company.connection_changed_at.isoformat(timespec="minutes") if company.connection_changed_at else None
        alert = ConnectionAlert(company.consumer_id, company.name, company.connection_state, since)
        if not data_team_alerts.configured:
            context.log.warning(f"{alert.subject}; no alert channel set (DATA_TEAM_EMAIL / DATA_TEAM_WEBHOOK_URL)")
        else:
            try:
                data_team_alerts.notify(subject=alert.subject, text=alert.text, payload=alert.as_json())
            except Exception as error:  # a channel is down: alert again on the next tick
                context.log.error(
                    f"connection alert for company '{company.consumer_id}' not delivered "
                    f"({type(error).__name__}); will retry"
                )
                continue
            sent += 1
        with engine.begin() as conn:
            connection_health.mark_connection_alerted(conn, company.consumer_id, company.connection_state)
    return sent
