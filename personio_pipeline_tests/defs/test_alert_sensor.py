"""The missing-email alert: fires once per newly affected person, by email (real SMTP on
loopback) and webhook (real HTTP receiver), not again for the same people, and never drops a
company however many results arrive between two ticks."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from personio_pipeline.companies import alert_log, registry
from personio_pipeline.defs.alerts.sensors import (
    COMPANIES_PER_TICK,
    batches,
    missing_email_alerts,
    read_position,
)
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.keys import MISSING_EMAILS
from personio_pipeline.defs.shared.keys import ORG_EMPLOYEES as EMPLOYEES
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.org import checks
from personio_pipeline_tests.support.production import dagster_pg_env
from personio_pipeline_tests.support.records import person
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "alert-co"


class World:
    """A Dagster instance, a Teammeter database, the sandbox and the alert channels."""

    def __init__(self, instance, tmp_path, sandbox, smtp_server, webhook_receiver):
        self.instance, self.sandbox = instance, sandbox
        self.db = TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
        self.resources = {
            "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
            "teammeter_db": self.db,
            "io_manager": LocalFilesIOManager(base_dir=str(tmp_path / "data")),
        }
        self.alerts = DataTeamAlerts(
            email_to="data-team@teammeter.example",
            webhook_url=webhook_receiver.url,
            mailer=Mailer(smtp_host=smtp_server.host, smtp_port=smtp_server.port, sender="pipeline@teammeter.example"),
        )
        self.register(COMPANY)

    def register(self, *consumer_ids: str) -> None:
        with self.db.engine().begin() as conn:
            for consumer_id in consumer_ids:
                registry.register(conn, consumer_id, f"{consumer_id} GmbH")
        self.instance.add_dynamic_partitions(companies.name, list(consumer_ids))

    def sync(self, records, company: str = COMPANY):
        self.sandbox.set_company(company, records)
        result = dg.materialize([raw_employees, *org_assets], resources=self.resources,
                                instance=self.instance, partition_key=company)
        assert result.success

    def tick(self, cursor):
        with dg.build_sensor_context(instance=self.instance, cursor=cursor,
                                     resources={"data_team_alerts": self.alerts, "teammeter_db": self.db}) as context:
            outcome = missing_email_alerts(context)
            self.last_outcome = outcome.skip_message if isinstance(outcome, dg.SkipReason) else str(outcome)
            return context.cursor


@pytest.fixture
def world(tmp_path, sandbox, smtp_server, webhook_receiver):
    return World(dg.DagsterInstance.ephemeral(), tmp_path, sandbox, smtp_server, webhook_receiver)


BASE = [
    person("1", "Zoë", "Boss", email="zoe@acme.example"),
    person("2", "Jonas", "Nomail", manager="1"),
    person("3", "Mia", "Broken", email="mia..x@acme.example", manager="1"),
]


def test_alerts_once_per_new_person(world, smtp_server, webhook_receiver):
    world.sync(BASE)
    cursor = world.tick(None)

    assert len(smtp_server.messages) == 1
    recipients, message = smtp_server.messages[0]
    assert recipients == ["data-team@teammeter.example"]
    assert "alert-co" in message["Subject"] and "2 new people" in message["Subject"]
    body = message.get_content()
    assert "Jonas Nomail" in body and "Mia Broken" in body and "Zoë Boss" not in body
    assert "@" not in body, "alerts carry no email addresses"
    assert [p["employee_id"] for p in webhook_receiver.payloads[0]["new_people"]] == ["2", "3"]

    cursor = world.tick(cursor)  # nothing new evaluated
    world.sync(BASE)             # the daily sync finds the same people again
    cursor = world.tick(cursor)
    assert len(smtp_server.messages) == 1 and len(webhook_receiver.payloads) == 1

    world.sync(BASE + [person("4", "Neu", "Hire", manager="1")])
    cursor = world.tick(cursor)
    assert len(smtp_server.messages) == 2
    assert [p["employee_id"] for p in webhook_receiver.payloads[1]["new_people"]] == ["4"]
    assert "1 new person" in smtp_server.messages[1][1]["Subject"]


def test_someone_fixed_and_broken_again_is_alerted_again(world, webhook_receiver):
    world.sync(BASE)
    cursor = world.tick(None)
    fixed = [BASE[0], person("2", "Jonas", "Nomail", email="jonas@acme.example", manager="1"), BASE[2]]
    world.sync(fixed)
    cursor = world.tick(cursor)
    assert len(webhook_receiver.payloads) == 1
    world.sync(BASE)
    world.tick(cursor)
    assert [p["employee_id"] for p in webhook_receiver.payloads[1]["new_people"]] == ["2"]


def test_an_undelivered_alert_is_retried_and_not_duplicated(world, smtp_server, webhook_receiver):
    world.sync(BASE)
    webhook_receiver.status = 503
    cursor = world.tick(None)
    assert webhook_receiver.payloads == []
    assert "not delivered (HTTPStatusError 503)" in world.last_outcome and "alert-co" in world.last_outcome
    assert webhook_receiver.url not in world.last_outcome

    webhook_receiver.status = 200
    cursor = world.tick(cursor)
    assert len(webhook_receiver.payloads) == 1
    world.tick(cursor)
    assert len(webhook_receiver.payloads) == 1


def test_a_cursor_from_before_the_database_bookkeeping_alerts_nobody_twice(world, webhook_receiver):
    """Cursors written before the alerted sets moved to the database carried them inline."""
    world.sync(BASE + [person("4", "Neu", "Hire", manager="1")])
    earlier = json.dumps({"after_id": 7, "alerted": {COMPANY: ["2", "3"], "gone-co": ["1"]}})
    cursor = world.tick(earlier)
    assert [p["employee_id"] for p in webhook_receiver.payloads[0]["new_people"]] == ["4"]
    assert len(webhook_receiver.payloads) == 1
    assert len(cursor) < 40 and "alerted" not in cursor


def test_results_the_sensor_cannot_use_are_reported_and_the_others_alerted(world, webhook_receiver):
    """An unregistered company, and a failed result without the people list: each is named in
    the tick's log and summary; the other companies are alerted and the cursor moves on."""
    world.instance.add_dynamic_partitions(companies.name, ["not-registered", "no-list"])
    world.register("no-list")
    world.instance.report_runless_asset_event(missing_email_result("not-registered", 1))
    world.instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=EMPLOYEES, check_name=MISSING_EMAILS, passed=False, metadata={"count": 1}, partition="no-list"))
    world.sync(BASE)
    cursor = world.tick(None)
    assert "2 not alertable" in world.last_outcome
    assert [payload["consumer_id"] for payload in webhook_receiver.payloads] == [COMPANY]
    world.tick(cursor)
    assert "no new" in world.last_outcome


# -- a backlog: 1,200 companies' results between two ticks ----------------------------------------

BACKLOG = 1200


def missing_email_result(company: str, people_without_email: int) -> dg.AssetCheckEvaluation:
    """The company's missing_emails result as the employees step records it (the real verdict
    over an employees table; metadata shaped by defs/shared/check_results.py `to_result`)."""
    table = pd.DataFrame(
        [
            {"employee_id": str(i), "display_name": f"Person {i} of {company}", "team_name": "Ops",
             "status": "active", "email": None if i < people_without_email else f"p{i}@x.example",
             "email_problem": "missing" if i < people_without_email else None}
            for i in range(3)
        ]
    )
    outcome = checks.missing_emails(table)
    return dg.AssetCheckEvaluation(
        asset_key=EMPLOYEES,
        check_name=MISSING_EMAILS,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={"company": company, "count": outcome.metadata["count"],
                  "people": dg.MetadataValue.json(outcome.metadata["people"])},
        partition=company,
    )


@pytest.fixture
def fast_dir(tmp_path):
    """A folder in memory-backed /dev/shm where there is one: thousands of SQLite commits would
    otherwise wait on the disk (minutes on a busy machine) without testing anything more."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        yield Path(folder)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backlog_instance(request, fast_dir):
    """The instance kinds the project runs on: SQLite as `make demo`/`make dev` create it
    (run-sharded event log), and PostgreSQL as deploy/dagster.yaml configures it."""
    home = fast_dir / "dagster_home"
    home.mkdir()
    if request.param == "sqlite":
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            yield instance
        return
    env = dagster_pg_env(request.getfixturevalue("new_database")("alerts_dagster"))
    storage = {"postgres": {"postgres_db": {
        "hostname": env["DAGSTER_PG_HOST"], "port": int(env["DAGSTER_PG_PORT"]), "username": env["DAGSTER_PG_USER"],
        "password": env["DAGSTER_PG_PASSWORD"], "db_name": env["DAGSTER_PG_DB"]}}}
    with dg.instance_for_test(overrides={"storage": storage}, temp_dir=str(home)) as instance:
        yield instance


@pytest.mark.slow  # 1,200 companies
def test_a_backlog_of_1200_companies_is_alerted_completely_once(backlog_instance, fast_dir, sandbox, smtp_server,
                                                               webhook_receiver):
    world = World(backlog_instance, fast_dir, sandbox, smtp_server, webhook_receiver)
    names = [f"co-{i:04d}" for i in range(BACKLOG)]
    world.register(*names)
    # Every third company has nobody missing, the others one or two people.
    missing = {name: i % 3 for i, name in enumerate(names)}
    cursor = world.tick(None)
    for name in names:
        backlog_instance.report_runless_asset_event(missing_email_result(name, missing[name]))

    ticks = 0
    while True:
        cursor = world.tick(cursor)
        ticks += 1
        checked = int(re.match(r"checked (\d+) companies", world.last_outcome).group(1))
        assert 0 < checked <= COMPANIES_PER_TICK, world.last_outcome  # bounded per tick, always progressing
        if "left for the next ticks" not in world.last_outcome:
            break
    assert ticks >= math.ceil(BACKLOG / COMPANIES_PER_TICK)

    affected = {name for name, count in missing.items() if count}
    alerted = Counter(payload["consumer_id"] for payload in webhook_receiver.payloads)
    assert set(alerted) == affected and set(alerted.values()) == {1}
    mailed = Counter(message["Subject"].split()[1].rstrip(":") for _, message in smtp_server.messages)
    assert set(mailed) == affected and set(mailed.values()) == {1}
    for payload in webhook_receiver.payloads:
        assert len(payload["new_people"]) == missing[payload["consumer_id"]]
    assert len(cursor) < 40, "the cursor is one position, not per-company state"

    with world.db.engine().connect() as conn:
        assert alert_log.alerted(conn, "co-0002", MISSING_EMAILS) == {"0", "1"}
    world.tick(cursor)
    assert len(webhook_receiver.payloads) == len(affected)


def test_batches_never_split_companies_sharing_a_position():
    changed = [(10, "a"), (11, "b"), (11, "c"), (11, "d"), (12, "e")]
    assert list(batches(changed, 2)) == [(10, ["a"]), (11, ["b", "c", "d"])]
    assert list(batches(changed, 10)) == [(10, ["a"]), (11, ["b", "c", "d"]), (12, ["e"])]
    assert list(batches([], 5)) == []


def test_cursor_positions():
    assert read_position(None) == (0, {})
    assert read_position('{"after_storage_id": 42}') == (42, {})
    assert read_position('{"after_id": 9, "alerted": {"x": ["1"]}}') == (0, {"x": ["1"]})
