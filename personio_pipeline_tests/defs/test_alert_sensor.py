"""The missing-email alert: fires once per newly affected person, by email (real SMTP on
loopback) and webhook (real HTTP receiver), and not again for the same people."""

from __future__ import annotations

import dagster as dg
import pytest

from personio_pipeline.defs.assets.apideck import raw_employees
from personio_pipeline.defs.assets.org import org_assets
from personio_pipeline.defs.io import LocalFilesIOManager
from personio_pipeline.defs.partitions import companies
from personio_pipeline.defs.resources import ApideckResource, DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.defs.sensors import missing_email_alerts
from personio_pipeline.teammeter import organisations
from personio_pipeline_tests.conftest import TEST_API_KEY, TEST_APP_ID
from personio_pipeline_tests.defs.crafted import person

COMPANY = "alert-co"


@pytest.fixture
def world(tmp_path, sandbox, smtp_server, webhook_receiver):
    db = TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        organisations.register(conn, COMPANY, "Alert GmbH")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(companies.name, [COMPANY])
    resources = {
        "apideck": ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url),
        "teammeter_db": db,
        "io_manager": LocalFilesIOManager(base_dir=str(tmp_path / "data")),
    }
    alerts = DataTeamAlerts(
        email_to="data-team@teammeter.example",
        webhook_url=webhook_receiver.url,
        mailer=Mailer(smtp_host=smtp_server.host, smtp_port=smtp_server.port, sender="pipeline@teammeter.example"),
    )

    class World:
        def sync(self, records):
            sandbox.set_company(COMPANY, records)
            result = dg.materialize([raw_employees, *org_assets], resources=resources,
                                    instance=instance, partition_key=COMPANY)
            assert result.success

        def tick(self, cursor):
            with dg.build_sensor_context(instance=instance, cursor=cursor,
                                         resources={"data_team_alerts": alerts}) as context:
                missing_email_alerts(context)
                return context.cursor

    return World()


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


def test_an_undelivered_alert_is_retried_and_not_duplicated(world, smtp_server, webhook_receiver):
    world.sync(BASE)
    webhook_receiver.status = 503
    cursor = world.tick(None)
    assert webhook_receiver.payloads == []

    webhook_receiver.status = 200
    cursor = world.tick(cursor)
    assert len(webhook_receiver.payloads) == 1
    world.tick(cursor)
    assert len(webhook_receiver.payloads) == 1
