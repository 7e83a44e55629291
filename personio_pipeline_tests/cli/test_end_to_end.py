"""The operator flow end to end, through the CLI, the sensors and the schedule, against the
sandbox (Vault + HRIS) and a real SMTP server on loopback:

connect → sensor sees `callable` → manual first sync → review → verify → invitation sensor →
invitations delivered once each → a daily run adds a new hire who is invited → SMTP down during
a run → invitations delivered after recovery, none twice.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import pytest
from click.testing import CliRunner

from personio_pipeline.cli import main
from personio_pipeline.defs.invitations.sensor import invitation_sensor
from personio_pipeline.defs.lifecycle.connection_sensor import connection_sensor
from personio_pipeline.defs.lifecycle.schedules import daily_sync
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.org.addresses import as_sent
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "flow-gmbh"


pytestmark = pytest.mark.slow  # the operator's whole flow: sync, verify, invite


@pytest.fixture
def flow(pipeline_env, sandbox, smtp_server, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("SMTP_FROM", "Teammeter <hello@teammeter.example>")
    sandbox.config.default_connection_state = "available"
    sandbox.config.company_sizes[COMPANY] = 60
    runner = CliRunner()

    class Flow:
        instance = dg.DagsterInstance.get()
        resources = {
            "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
            "teammeter_db": TeammeterDatabase(url=f"sqlite:///{pipeline_env / 'teammeter.sqlite'}"),
            "data_team_alerts": DataTeamAlerts(mailer=Mailer()),
        }

        def cli(self, *args, ok=True):
            result = runner.invoke(main, list(args), catch_exceptions=False)
            assert (result.exit_code == 0) == ok, result.output
            return result.output

        def connection_tick(self):
            with dg.build_sensor_context(instance=self.instance, resources=self.resources) as context:
                result = connection_sensor(context)
            if isinstance(result, dg.SensorResult):
                for request in result.dynamic_partitions_requests:
                    self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            return result

        def invitation_requests(self):
            with dg.build_sensor_context(instance=self.instance, resources=self.resources) as context:
                result = invitation_sensor(context)
            return [] if isinstance(result, dg.SkipReason) else list(result.run_requests if isinstance(result, dg.SensorResult) else result)

        def review(self):
            return json.loads(self.cli("review", COMPANY, "--format", "json"))

    return Flow()


def delivered(smtp_server):
    """Messages per envelope recipient (IDN domains in their IDNA form, as `once_each` maps them)."""
    return Counter(rcpt for rcpts, _ in smtp_server.messages for rcpt in rcpts)


def once_each(emails) -> Counter:
    return Counter({as_sent(address).envelope: 1 for address in emails})


def test_operator_flow(flow, sandbox, smtp_server):
    # 1. Connection link; the admin has not finished the Vault flow yet.
    output = flow.cli("connect", COMPANY, "--name", "Flow GmbH")
    assert f"{sandbox.url}/vault/session/" in output and "expires at" in output
    assert isinstance(flow.connection_tick(), dg.SkipReason)
    assert not flow.instance.has_dynamic_partition(companies.name, COMPANY)

    # 2. The admin connects Personio: the sensor adds the partition, but starts no sync.
    sandbox.complete_authorisation(COMPANY)
    result = flow.connection_tick()
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert flow.instance.has_dynamic_partition(companies.name, COMPANY)
    assert flow.invitation_requests() == [], "nothing is invited before verification"

    # 3. First sync by hand, then review.
    flow.cli("sync", COMPANY)
    users = flow.review()
    with_access = {u["email"] for u in users if u["active"] and u["has_access"]}
    assert len(users) > 40 and len(with_access) < len(users), "some people have no email"
    assert smtp_server.messages == []

    # Sending by hand before verification is refused, naming the remedy.
    output = flow.cli("invitations", "send", COMPANY, ok=False)
    assert f"personio-pipeline verify {COMPANY}" in output

    # 4. Verify → the invitation sensor asks for one run → everyone with access gets one message,
    # in that one run, through a relay offering SMTPUTF8 (internationalised addresses go out too).
    flow.cli("verify", COMPANY)
    (request,) = flow.invitation_requests()
    assert request.partition_key == COMPANY
    assert any(not email.split("@")[0].isascii() for email in with_access), "the sandbox serves non-ASCII local parts"
    flow.cli("invitations", "send", COMPANY)
    assert delivered(smtp_server) == once_each(with_access)
    assert all(u["invited"] for u in flow.review() if u["has_access"])
    assert flow.invitation_requests() == [], "nothing left to do"

    # 5. The next day: the schedule requests the daily sync; a new hire arrives and is invited.
    sandbox.config.day = 1
    when = datetime(2026, 11, 27, 4, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(instance=flow.instance, scheduled_execution_time=when,
                                   resources=flow.resources) as context:
        (daily,) = daily_sync(context)
    assert daily.partition_key == COMPANY and daily.run_key == f"daily-2026-11-27-{COMPANY}"
    assert "approve_deactivations" not in json.dumps(daily.run_config)
    flow.cli("sync", COMPANY)  # as the daily run does: no approval of deactivations
    newcomers = {u["email"] for u in flow.review() if u["active"] and u["has_access"]} - with_access
    assert newcomers, "day 1 brings at least one hire with an email"

    # 6. SMTP is down during the invitation run: nothing is lost, nothing marked sent.
    smtp_server.fail_with = "451 4.3.0 mail system temporarily unavailable"
    flow.invitation_requests()
    flow.cli("invitations", "send", COMPANY, ok=False)
    statuses = json.loads(flow.cli("invitations", "list", COMPANY, "--format", "json"))
    waiting = [row for row in statuses if row["email"] in newcomers]
    assert {row["email"] for row in waiting} == newcomers
    assert all(row["status"] == "pending" for row in waiting)
    assert [row["attempts"] for row in waiting].count(1) == 1, "an outage costs one attempt; the rest wait"

    # 7. Recovery: the retry delivers each newcomer exactly once; nobody got a second message.
    smtp_server.fail_with = None
    flow.cli("invitations", "send", COMPANY)
    assert delivered(smtp_server) == once_each(with_access | newcomers)
