"""Data-team alerts from asset-check results: people newly found without a usable email
(`missing_emails`), and people the Teammeter write newly held back (`records_held_back`).

A failed check does not fail the run, so run-failure sensors never see it; these sensors read
the check's results per company partition instead (one `CheckAlert` describes each). Its cursor is one
position in the event log (the storage id of the last check event handled): each tick takes the
companies whose check changed after it, oldest first, a bounded number per tick, so a backlog of
any size is worked off over several ticks and none is skipped. Whom each company's alerts
already named is kept in the Teammeter database (`companies/alert_log.py`), not in the cursor,
so the cursor stays one number at any number of companies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import groupby
from typing import Any

import dagster as dg
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from personio_pipeline.companies import alert_log
from personio_pipeline.companies.registry import UnknownCompanyError
from personio_pipeline.defs.shared.keys import HELD_BACK, MISSING_EMAILS, ORG_EMPLOYEES, TEAMMETER_USERS
from personio_pipeline.defs.shared.resources import DataTeamAlerts, TeammeterDatabase
from personio_pipeline.notify.alerts import held_back_alert, held_back_key, missing_email_alert

MISSING_EMAILS_CHECK = dg.AssetCheckKey(ORG_EMPLOYEES, MISSING_EMAILS)
HELD_BACK_CHECK_KEY = dg.AssetCheckKey(TEAMMETER_USERS, HELD_BACK)
COMPANIES_PER_TICK = 250
# Sensor ticks must end well within Dagster's 60 s evaluation limit; slow alert channels
# (SMTP with STARTTLS, a webhook) stop a tick early and the next one goes on from there.
TICK_BUDGET_SECONDS = 30.0
COMPLETED = frozenset({AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED})


@dataclass(frozen=True)
class CheckAlert:
    """What one alert sensor reads and says: the check, how a reported person is remembered
    (`alert_log`), and the pure alert builder of `notify/alerts.py`."""

    check: dg.AssetCheckKey
    person_key: Callable[[dict[str, Any]], str]
    # (company, people, keys already alerted, count) -> an alert with `new_people`, or None
    build: Callable[[str, list[dict[str, Any]], set[str], int], Any]


MISSING_EMAIL_ALERT = CheckAlert(
    check=MISSING_EMAILS_CHECK,
    person_key=lambda person: str(person["employee_id"]),
    build=lambda company, people, already, count: missing_email_alert(company, people, already, still_missing=count),
)
HELD_BACK_ALERT = CheckAlert(
    check=HELD_BACK_CHECK_KEY,
    person_key=held_back_key,  # "<employee id>|<problem>": a second problem is a new alert
    build=lambda company, people, already, _count: held_back_alert(company, people, already),
)


def read_position(raw: str | None) -> tuple[int, dict[str, list[str]]]:
    """The event-log position, and the alerted sets of a cursor written before they moved to the
    Teammeter database (to import once; empty otherwise)."""
    state = json.loads(raw) if raw else {}
    if "after_storage_id" in state:
        return int(state["after_storage_id"]), {}
    # The earlier cursor counted rows of another table: start over, the imported sets and the
    # database keep already-alerted people from being alerted again.
    return 0, state.get("alerted", {})


def cursor_at(position: int) -> str:
    return json.dumps({"after_storage_id": position})


def changed_companies(
    instance: dg.DagsterInstance, after: int, check: dg.AssetCheckKey = MISSING_EMAILS_CHECK
) -> list[tuple[int, str]]:
    """(position, company) of each company whose check has an event after `after`, oldest
    first. One entry per company partition however many runs happened since, read from
    Dagster's asset-check index (global storage ids on SQLite and PostgreSQL alike)."""
    infos = instance.event_log_storage.get_asset_check_partition_info([check], after_storage_id=after)
    return sorted(
        (info.latest_check_event_storage_id, info.partition_key)
        for info in infos
        if info.partition_key is not None and info.latest_check_event_storage_id > after
    )


def batches(changed: list[tuple[int, str]], limit: int) -> Iterator[tuple[int, list[str]]]:
    """(position, companies) groups in order, at most about `limit` companies in all; companies
    sharing one position stay together, so moving the cursor there never skips one of them."""
    taken = 0
    for position, group in groupby(changed, key=lambda entry: entry[0]):
        if taken >= limit:
            return
        companies = [company for _, company in group]
        taken += len(companies)
        yield position, companies


def latest_result(
    instance: dg.DagsterInstance, company: str, check: dg.AssetCheckKey = MISSING_EMAILS_CHECK
) -> dg.AssetCheckEvaluation | None:
    """The company's latest completed result (a run in progress has not produced one yet)."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        check, limit=1, status=set(COMPLETED), partition_filter=PartitionKeyFilter(key=company)
    )
    for record in records:
        if record.event is not None and record.event.asset_check_evaluation is not None:
            return record.event.asset_check_evaluation
    return None


class Unusable(Exception):
    """A result or company the sensor cannot alert on; logged, and the tick goes on."""


def _reported(evaluation: dg.AssetCheckEvaluation) -> tuple[list[dict[str, Any]], int]:
    """The people the result lists, and how many it counted (the list may be cut short)."""
    people_entry = evaluation.metadata.get("people")
    if people_entry is None and not evaluation.passed:
        # Reading it as "nobody" would close every open row and stay silent.
        raise Unusable("the failed result lists no 'people'; was the check's metadata changed?")
    people = list(people_entry.value) if people_entry is not None else []
    count_entry = evaluation.metadata.get("count")
    count = int(count_entry.value) if count_entry is not None else len(people)
    return people, max(count, len(people))


class Undelivered(Exception):
    """An alert channel refused or failed: the company is tried again next tick."""


def alert_company(
    context: dg.SensorEvaluationContext,
    company: str,
    alerts: DataTeamAlerts,
    teammeter_db: TeammeterDatabase,
    spec: CheckAlert = MISSING_EMAIL_ALERT,
) -> bool:
    """Alert about the company's newly reported people; True when an alert went out."""
    evaluation = latest_result(context.instance, company, spec.check)
    if evaluation is None:
        return False
    people, count = _reported(evaluation)
    engine = teammeter_db.engine()
    try:
        with engine.connect() as conn:
            stored = alert_log.alerted(conn, company, spec.check.name)
    except UnknownCompanyError as error:
        raise Unusable(str(error)) from error
    keys = [spec.person_key(person) for person in people]
    already = {key for key in keys if alert_log.person_key(key) in stored}
    alert = spec.build(company, people, already, count)
    if alert is not None and alerts.configured:
        try:
            alerts.notify(subject=alert.subject, text=alert.text, payload=alert.as_json())
        except Exception as error:
            # The error's own text may carry the webhook URL and its token: name the kind and code only.
            code = getattr(getattr(error, "response", None), "status_code", None) or getattr(error, "smtp_code", None)
            raise Undelivered(type(error).__name__ + (f" {code}" if code else "")) from error
    elif alert is not None:
        context.log.warning(f"{alert.subject}; no alert channel set (DATA_TEAM_EMAIL / DATA_TEAM_WEBHOOK_URL)")
    with engine.begin() as conn:
        alert_log.remember(
            conn,
            company,
            spec.check.name,
            alerted_now=[spec.person_key(person) for person in alert.new_people] if alert else [],
            still_reported=keys if count == len(people) else None,
            at=datetime.now(timezone.utc),
        )
    return alert is not None and alerts.configured


def import_cursor_sets(
    context: dg.SensorEvaluationContext, teammeter_db: TeammeterDatabase, alerted: dict[str, list[str]]
) -> None:
    """Move the alerted sets of an earlier cursor into the database, so nobody is alerted twice."""
    now = datetime.now(timezone.utc)
    with teammeter_db.engine().begin() as conn:
        for company, employee_ids in sorted(alerted.items()):
            try:
                alert_log.remember(conn, company, MISSING_EMAILS, alerted_now=employee_ids, still_reported=None, at=now)
            except UnknownCompanyError:
                context.log.warning(f"company '{company}' from the earlier alert cursor is not registered; not imported")


@dg.sensor(
    name="missing_email_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts the data team (email and/or webhook) about people newly found without a usable email, "
    "per company, from the missing_emails check's results.",
)
def missing_email_alerts(
    context: dg.SensorEvaluationContext, data_team_alerts: DataTeamAlerts, teammeter_db: TeammeterDatabase
):
    return evaluate(context, data_team_alerts, teammeter_db, MISSING_EMAIL_ALERT)


@dg.sensor(
    name="held_back_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Alerts the data team (email and/or webhook) about people the sync newly held back "
    "(shared address, management cycle), per company, with the HR field to fix.",
)
def held_back_alerts(
    context: dg.SensorEvaluationContext, data_team_alerts: DataTeamAlerts, teammeter_db: TeammeterDatabase
):
    return evaluate(context, data_team_alerts, teammeter_db, HELD_BACK_ALERT)


def evaluate(
    context: dg.SensorEvaluationContext, data_team_alerts: DataTeamAlerts, teammeter_db: TeammeterDatabase,
    spec: CheckAlert,
):
    """One tick of an alert sensor: the companies whose check changed since the cursor, a
    bounded number per tick, oldest first."""
    position, earlier_sets = read_position(context.cursor)
    if earlier_sets and spec is MISSING_EMAIL_ALERT:
        import_cursor_sets(context, teammeter_db, earlier_sets)
        context.update_cursor(cursor_at(position))
    changed = changed_companies(context.instance, position, spec.check)
    if not changed:
        return dg.SkipReason(f"no new {spec.check.name} check results")
    deadline = time.monotonic() + TICK_BUDGET_SECONDS
    checked, sent, unusable, problem = 0, 0, 0, None
    for group_position, companies in batches(changed, COMPANIES_PER_TICK):
        for company in companies:
            try:
                sent += alert_company(context, company, data_team_alerts, teammeter_db, spec)
            except Unusable as error:
                context.log.error(f"{spec.check.name} alert for company '{company}' not sent: {error}")
                unusable += 1
            except Undelivered as error:
                problem = f"alert for company '{company}' not delivered ({error}); retried next tick"
                break
            checked += 1
        if problem:
            context.log.error(problem)
            break
        position = group_position
        if time.monotonic() > deadline:
            break
    context.update_cursor(cursor_at(position))
    waiting = len(changed) - checked
    return dg.SkipReason(
        f"checked {checked} companies, sent {sent} alerts"
        + (f", {unusable} not alertable (see the tick's log)" if unusable else "")
        + (f", {waiting} companies left for the next ticks" if waiting else "")
        + (f"; {problem}" if problem else "")
    )
