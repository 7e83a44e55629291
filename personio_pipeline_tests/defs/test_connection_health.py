"""Connection health end to end against the sandbox's Vault and HRIS endpoints: a company synced
daily loses its connection (a sync gets 401), the failure is recorded, the connection sensor
re-checks Vault on its next tick, records `revoked`, alerts the data team once (a real webhook
receiver), the daily schedule and `personio-pipeline status` skip it with the reason, and a
reconnect resumes the daily sync."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.common import settings
from personio_pipeline.companies import connection_health, registry
from personio_pipeline.definitions import build_defs
from personio_pipeline.defs.lifecycle.connection_sensor import connection_sensor
from personio_pipeline.defs.lifecycle.schedules import daily_sync
from personio_pipeline.defs.lifecycle.sync_failure_sensor import sync_failure_sensor
from personio_pipeline.defs.shared.keys import SYNC_JOB
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.runtime.instance import dagster_instance as _instance
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "acme-gmbh"
MORNING = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)  # 05:00 in Berlin


pytestmark = pytest.mark.slow  # whole-graph syncs against a revoked connection


class Pipeline:
    """The pieces of one deployment, wired to the sandbox, a SQLite Teammeter and a webhook."""

    def __init__(self, sandbox, receiver):
        self.sandbox = sandbox
        self.instance = _instance()
        self.db = TeammeterDatabase(url=settings.teammeter_database_url())
        self.apideck = ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url)
        self.alerts = DataTeamAlerts(webhook_url=receiver.url, mailer=Mailer())
        self.failure_cursor = None

    def connection_tick(self):
        resources = {"apideck": self.apideck, "teammeter_db": self.db, "data_team_alerts": self.alerts}
        with dg.build_sensor_context(instance=self.instance, resources=resources) as context:
            result = connection_sensor(context)
        if isinstance(result, dg.SensorResult):
            for request in result.dynamic_partitions_requests:
                self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    def sync(self):
        job = build_defs().resolve_job_def(SYNC_JOB)
        result = job.execute_in_process(instance=self.instance, partition_key=COMPANY, raise_on_error=False)
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.failure_cursor, resources={"teammeter_db": self.db}
        ) as context:
            self.failure_cursor = sync_failure_sensor.evaluate_tick(context).cursor
        return result

    def schedule(self, when=MORNING):
        with dg.build_schedule_context(
            instance=self.instance, scheduled_execution_time=when, resources={"teammeter_db": self.db}
        ) as context:
            return daily_sync(context)

    def organisation(self):
        with self.db.engine().connect() as conn:
            return registry.get(conn, COMPANY)

    def vault_checks(self):
        return [e for e in self.sandbox.request_log if e["path"].startswith("/vault/connections")]


@pytest.fixture
def pipeline(pipeline_env, sandbox, webhook_receiver):
    runner = CliRunner()
    assert runner.invoke(main, ["tenants", "add", COMPANY, "--name", "ACME GmbH"]).exit_code == 0
    return Pipeline(sandbox, webhook_receiver)


def test_revoked_connection_is_found_after_a_401_alerted_once_skipped_and_resumed(pipeline, sandbox, webhook_receiver):
    runner = CliRunner()
    pipeline.connection_tick()
    assert pipeline.organisation().connection_state == "callable"
    assert pipeline.sync().success
    assert [r.partition_key for r in pipeline.schedule()] == [COMPANY]
    checks_before = len(pipeline.vault_checks())
    assert isinstance(pipeline.connection_tick(), dg.SkipReason)
    assert len(pipeline.vault_checks()) == checks_before, "checked just now and no failure since: not asked again"

    sandbox.set_connection(COMPANY, "revoked")
    failed = pipeline.sync()
    assert not failed.success
    assert any(e["status"] == 401 for e in sandbox.request_log if e["path"] == "/hris/employees")
    assert pipeline.organisation().connection_state == "callable", "the sync itself does not decide"

    pipeline.connection_tick()  # the failed sync makes the company due for a check at once
    assert len(pipeline.vault_checks()) == checks_before + 1
    organisation = pipeline.organisation()
    assert (organisation.connection_state, organisation.connection_alerted_state) == ("revoked", "revoked")
    (alert,) = webhook_receiver.payloads
    assert (alert["kind"], alert["consumer_id"], alert["state"]) == ("connection_problem", COMPANY, "revoked")
    assert f"personio-pipeline connect {COMPANY}" in alert["text"]

    pipeline.connection_tick()
    pipeline.connection_tick()
    assert len(webhook_receiver.payloads) == 1, "alerted once"

    skipped = pipeline.schedule()
    assert isinstance(skipped, dg.SkipReason) and f"{COMPANY}: connection revoked since" in skipped.skip_message
    status = runner.invoke(main, ["status"])
    assert status.exit_code == 0, status.output
    assert "daily sync skips it: connection revoked since" in status.output
    (as_json,) = json.loads(runner.invoke(main, ["status", "--format", "json"]).output)
    assert as_json["connection_state"] == "revoked" and as_json["daily_sync_skipped"].startswith("connection revoked")
    listed = runner.invoke(main, ["tenants", "list"]).output
    assert "daily sync skips it: connection revoked since" in listed

    sandbox.complete_authorisation(COMPANY)
    pipeline.connection_tick()
    assert pipeline.organisation().connection_state == "callable"
    assert pipeline.organisation().connection_alerted_state is None
    assert [r.partition_key for r in pipeline.schedule(MORNING + timedelta(days=1))] == [COMPANY]
    assert "daily sync skips it" not in runner.invoke(main, ["status"]).output

    sandbox.set_connection(COMPANY, "callable", enabled=False)  # a new problem is alerted again
    with pipeline.db.engine().begin() as conn:
        connection_health.record_connection_check(conn, COMPANY, "callable", now=MORNING - timedelta(days=1))
    pipeline.connection_tick()  # due because the last check is older than CONNECTION_RECHECK_HOURS
    assert [p["state"] for p in webhook_receiver.payloads] == ["revoked", "disabled"]


def test_connected_companies_are_rechecked_after_the_interval(pipeline, sandbox, monkeypatch):
    pipeline.connection_tick()
    before = len(pipeline.vault_checks())
    monkeypatch.setenv("CONNECTION_RECHECK_HOURS", "0.001")  # 3.6 s
    with pipeline.db.engine().begin() as conn:
        connection_health.record_connection_check(
            conn, COMPANY, "callable", now=datetime.now(timezone.utc) - timedelta(seconds=10)
        )
    pipeline.connection_tick()
    assert len(pipeline.vault_checks()) == before + 1
    monkeypatch.setenv("CONNECTION_RECHECK_HOURS", "12")
    pipeline.connection_tick()
    assert len(pipeline.vault_checks()) == before + 1


def test_an_undelivered_alert_is_sent_on_a_later_tick(pipeline, sandbox, webhook_receiver):
    pipeline.connection_tick()
    sandbox.set_connection(COMPANY, "invalid")
    with pipeline.db.engine().begin() as conn:
        connection_health.record_connection_check(conn, COMPANY, "callable", now=MORNING)  # long ago
    webhook_receiver.status = 503
    pipeline.connection_tick()
    assert pipeline.organisation().connection_state == "invalid"
    assert pipeline.organisation().connection_alerted_state is None and webhook_receiver.payloads == []
    webhook_receiver.status = 200
    pipeline.connection_tick()
    pipeline.connection_tick()
    assert [p["state"] for p in webhook_receiver.payloads] == ["invalid"]
    assert pipeline.instance.has_dynamic_partition(companies.name, COMPANY), "a reconnect needs no re-registration"
