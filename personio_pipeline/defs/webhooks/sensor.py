"""Turns the webhook inbox into work: connection states at once, employee changes as one
debounced sync run per company.

Each tick, first the pending `vault.connection.*` events, oldest first: the company's connection
state is recorded at once; `revoked` alerts the data team; `callable` adds the company's
partition (as the connection sensor does). Then the employee events: a company's pending events
become one `sync_company` run after a quiet spell (`WEBHOOK_DEBOUNCE_QUIET_SECONDS`, 60) or at the
latest `WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS` (600) after the first, never while a sync of the
company is queued or running, and only for connected companies with auto-sync on whose first
(manual) sync happened; other companies' events are recorded as ignored (the daily schedule
decides for them). Events are given to the run key first and marked handled once the run
exists, so a tick that dies in between requests the same run again. New hires in a verified
company are then invited by the invitation sensor.
"""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.companies import connection_health, registry
from personio_pipeline.defs.shared.jobs import sync_company_job
from personio_pipeline.defs.shared.keys import PARTITION_TAG, TRIGGER_TAG, WEBHOOK_BATCH_TAG
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import DataTeamAlerts, TeammeterDatabase
from personio_pipeline.notify.alerts import ConnectionAlert
from personio_pipeline.webhooks import inbox
from personio_pipeline.webhooks.debounce import Debounce

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _sync_request(consumer_id: str, run_key: str, events: int) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        partition_key=consumer_id,
        tags={TRIGGER_TAG: "webhooks", WEBHOOK_BATCH_TAG: run_key, "webhooks/events": str(events)},
    )


def _run_exists(instance: dg.DagsterInstance, run_key: str) -> bool:
    return bool(instance.get_run_ids(filters=dg.RunsFilter(tags={WEBHOOK_BATCH_TAG: run_key}), limit=1))


def _sync_in_flight(instance: dg.DagsterInstance, consumer_id: str) -> bool:
    filters = dg.RunsFilter(job_name=sync_company_job.name, tags={PARTITION_TAG: consumer_id}, statuses=IN_FLIGHT)
    return bool(instance.get_run_ids(filters=filters, limit=1))


def _why_not_synced(company: inbox.PendingSync, partitions: set[str]) -> str | None:
    if company.connection_state != connection_health.CONNECTED:
        return "not_connected"
    if not company.auto_sync:
        return "auto_sync_off"
    if not company.first_synced:
        return "first_sync_pending"
    if company.consumer_id not in partitions:
        return "no_partition"
    return None


def _apply_connection_changes(context, engine, alerts: DataTeamAlerts, partitions: set[str], now) -> list[str]:
    """Record each pending Vault event's state; returns companies whose partition must be added."""
    to_add: list[str] = []
    held_back: set[int] = set()  # a company whose alert failed: its later events wait too
    with engine.connect() as conn:
        changes = inbox.pending_connection_changes(conn)
    for change in changes:
        if change.organisation_id in held_back:
            continue
        with engine.connect() as conn:
            company = registry.get(conn, change.consumer_id)
        state = change.connection_state
        alerted = False
        if state == "revoked" and company.connection_state != "revoked":
            alert = ConnectionAlert(company.consumer_id, company.name, state)
            if alerts.configured:
                try:
                    alerts.notify(subject=alert.subject, text=alert.text, payload=alert.as_json())
                    alerted = True
                except Exception as error:  # retried next tick; the event stays pending
                    context.log.warning(f"company '{change.consumer_id}': connection alert not delivered "
                                        f"({type(error).__name__}); retrying next tick")
                    held_back.add(change.organisation_id)
                    continue
            context.log.warning(alert.text.strip())
        with engine.begin() as conn:
            changed = connection_health.set_connection_state(conn, change.consumer_id, state)
            if alerted:  # the connection sensor, which alerts once per problem state, need not repeat it
                connection_health.mark_connection_alerted(conn, change.consumer_id, state)
            inbox.mark_handled(conn, change.id, now)
        if changed and state == connection_health.CONNECTED and company.first_synced_at is None:
            context.log.info(
                f"company '{change.consumer_id}' is connected; launch its first sync by hand: "
                f"`personio-pipeline sync {change.consumer_id}` or materialise the partition in the UI"
            )
        elif changed:
            context.log.info(f"company '{change.consumer_id}': connection {state} ({change.event_type})")
        if state == connection_health.CONNECTED and change.consumer_id not in partitions and change.consumer_id not in to_add:
            to_add.append(change.consumer_id)
    return to_add


@dg.sensor(
    name="webhook_sensor",
    job=sync_company_job,
    minimum_interval_seconds=settings.webhook_sensor_interval_seconds(),  # read when the definitions load
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Apideck webhook events: connection states at once; one debounced sync run per company "
    "with employee changes (connected, auto-sync on, first sync done, no sync queued or running).",
)
def webhook_sensor(context: dg.SensorEvaluationContext, teammeter_db: TeammeterDatabase,
                   data_team_alerts: DataTeamAlerts):
    now = datetime.now(timezone.utc)
    engine = teammeter_db.engine()
    instance = context.instance
    partitions = set(instance.get_dynamic_partitions(companies.name))
    new_partitions = _apply_connection_changes(context, engine, data_team_alerts, partitions, now)

    requests: list[dg.RunRequest] = []
    waiting_for_run: set[str] = set()
    with engine.connect() as conn:
        requested, pending = inbox.requested_syncs(conn), inbox.pending_syncs(conn)
    for batch in requested:
        if _run_exists(instance, batch.run_key):
            with engine.begin() as conn:
                inbox.settle_run(conn, batch.run_key, now)
        else:  # requested by an earlier tick that did not get as far as the run: the same key again
            requests.append(_sync_request(batch.consumer_id, batch.run_key, batch.events))
            waiting_for_run.add(batch.consumer_id)

    debounce = Debounce.from_settings()
    for company in pending:
        reason = _why_not_synced(company, partitions)
        if reason:
            with engine.begin() as conn:
                inbox.ignore_pending(conn, company.organisation_id, company.last_event_id, reason, now)
            context.log.info(f"company '{company.consumer_id}': {company.events} employee event(s) not synced "
                             f"on events ({reason}); the daily schedule or a manual sync takes them")
            continue
        if company.consumer_id in waiting_for_run:
            continue
        if not debounce.due(company.first_received_at, company.last_received_at, now):
            left = debounce.seconds_left(company.first_received_at, company.last_received_at, now)
            context.log.debug(f"company '{company.consumer_id}': {company.events} event(s), sync in ≤{left:.0f} s")
            continue
        if _sync_in_flight(instance, company.consumer_id):
            context.log.info(f"company '{company.consumer_id}': a sync is queued or running; "
                             f"{company.events} event(s) wait for it to finish")
            continue
        run_key = f"webhooks:{company.consumer_id}:{company.last_event_id}"
        with engine.begin() as conn:
            inbox.assign_run(conn, company.organisation_id, company.last_event_id, run_key)
        requests.append(_sync_request(company.consumer_id, run_key, company.events))
        context.log.info(f"company '{company.consumer_id}': sync requested for {company.events} employee event(s)")

    if not requests and not new_partitions:
        return dg.SkipReason(f"{sum(c.events for c in pending)} employee event(s) pending, none due")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[companies.build_add_request(new_partitions)] if new_partitions else [],
    )
