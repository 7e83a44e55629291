"""Sensors: data-team alerts from asset-check results.

A failed check does not fail the run, so run-failure sensors never see it; these sensors read
check evaluations instead and alert once per newly affected person: the missing-email check,
and the records the Teammeter write held back (`records_held_back`).
"""

import json
from typing import Any

import dagster as dg

from personio_pipeline.defs.checks import EMPLOYEES, HELD_BACK, MISSING_EMAILS, USERS
from personio_pipeline.defs.resources import DataTeamAlerts
from personio_pipeline.notify.alerts import held_back_alert, held_back_key, missing_email_alert

MISSING_EMAILS_CHECK = dg.AssetCheckKey(EMPLOYEES, MISSING_EMAILS)
HELD_BACK_CHECK_KEY = dg.AssetCheckKey(USERS, HELD_BACK)
HISTORY_PAGE = 500


def _read_cursor(raw: str | None) -> dict[str, Any]:
    state = json.loads(raw) if raw else {}
    return {"after_id": state.get("after_id", 0), "alerted": state.get("alerted", {})}


def _latest_per_company(
    instance: dg.DagsterInstance, after_id: int, check_key: dg.AssetCheckKey = MISSING_EMAILS_CHECK
) -> tuple[dict[str, Any], int]:
    """Newest completed evaluation per company since `after_id`, and the highest record id seen."""
    latest: dict[str, Any] = {}
    newest_id = after_id
    records = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=HISTORY_PAGE)
    for record in records:  # newest first
        if record.id <= after_id or record.event is None or record.event.asset_check_evaluation is None:
            continue
        newest_id = max(newest_id, record.id)
        company = record.partition or _run_partition(instance, record.run_id)
        if company:
            latest.setdefault(company, record.event.asset_check_evaluation)
    return latest, newest_id


def _run_partition(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Checks on partitioned assets are recorded per run; the run's tag names the company."""
    run = instance.get_run_by_id(run_id)
    return run.tags.get("dagster/partition") if run else None


@dg.sensor(
    name="missing_email_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts the data team (email and/or webhook) about people newly found without a usable email.",
)
def missing_email_alerts(context: dg.SensorEvaluationContext, data_team_alerts: DataTeamAlerts):
    state = _read_cursor(context.cursor)
    latest, newest_id = _latest_per_company(context.instance, state["after_id"])
    if not latest:
        return dg.SkipReason("no new missing-email check results")
    alerted: dict[str, list[str]] = state["alerted"]
    sent, failed = 0, []
    for consumer_id, evaluation in sorted(latest.items()):
        people_entry = evaluation.metadata.get("people")
        people = list(people_entry.value) if people_entry is not None else []
        alert = missing_email_alert(consumer_id, people, set(alerted.get(consumer_id, [])))
        if alert is not None and not data_team_alerts.configured:
            context.log.warning(f"{alert.subject}; no alert channel set (DATA_TEAM_EMAIL / DATA_TEAM_WEBHOOK_URL)")
        elif alert is not None:
            try:
                data_team_alerts.notify(subject=alert.subject, text=alert.text, payload=alert.as_json())
            except Exception as error:  # a channel is down: keep this company for the next tick
                context.log.error(f"alert for company '{consumer_id}' not delivered ({type(error).__name__}); will retry")
                failed.append(consumer_id)
                continue
            sent += 1
        # Remember only who is still missing: someone fixed and broken again is alerted again.
        alerted[consumer_id] = sorted(str(person["employee_id"]) for person in people)
    # Undelivered alerts keep the old position so their evaluations are read again next tick;
    # companies already alerted are not alerted twice because `alerted` remembers them.
    after_id = state["after_id"] if failed else newest_id
    context.update_cursor(json.dumps({"after_id": after_id, "alerted": alerted}))
    return dg.SkipReason(f"checked {len(latest)} companies, sent {sent} alerts, {len(failed)} to retry")


@dg.sensor(
    name="held_back_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts the data team (email and/or webhook) about people the sync newly held back "
    "(shared address, management cycle), with the HR field to fix.",
)
def held_back_alerts(context: dg.SensorEvaluationContext, data_team_alerts: DataTeamAlerts):
    state = _read_cursor(context.cursor)
    latest, newest_id = _latest_per_company(context.instance, state["after_id"], HELD_BACK_CHECK_KEY)
    if not latest:
        return dg.SkipReason("no new held-back check results")
    alerted: dict[str, list[str]] = state["alerted"]
    sent, failed = 0, []
    for consumer_id, evaluation in sorted(latest.items()):
        people_entry = evaluation.metadata.get("people")
        people = list(people_entry.value) if people_entry is not None else []
        alert = held_back_alert(consumer_id, people, set(alerted.get(consumer_id, [])))
        if alert is not None and not data_team_alerts.configured:
            context.log.warning(f"{alert.subject}; no alert channel set (DATA_TEAM_EMAIL / DATA_TEAM_WEBHOOK_URL)")
        elif alert is not None:
            try:
                data_team_alerts.notify(subject=alert.subject, text=alert.text, payload=alert.as_json())
            except Exception as error:  # a channel is down: keep this company for the next tick
                context.log.error(f"alert for company '{consumer_id}' not delivered ({type(error).__name__}); will retry")
                failed.append(consumer_id)
                continue
            sent += 1
        # Remember only who is still held back: released and held back again is alerted again.
        alerted[consumer_id] = sorted(held_back_key(person) for person in people)
    after_id = state["after_id"] if failed else newest_id
    context.update_cursor(json.dumps({"after_id": after_id, "alerted": alerted}))
    return dg.SkipReason(f"checked {len(latest)} companies, sent {sent} alerts, {len(failed)} to retry")
