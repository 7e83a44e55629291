"""The held-back alert: after a sync holds people back, the data team is told once per person
and problem, by email (real SMTP on loopback) and webhook (real HTTP receiver), never with an
address; a person released and held back again is reported again."""

from __future__ import annotations

import dagster as dg
import pytest

from personio_pipeline.companies import registry
from personio_pipeline.defs.alerts.sensors import held_back_alerts
from personio_pipeline.defs.ingest.assets import raw_employees
from personio_pipeline.defs.org.assets import org_assets
from personio_pipeline.defs.shared.io import LocalFilesIOManager
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.defs.store.assets import teammeter_sync
from personio_pipeline_tests.support.records import person
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID

COMPANY = "held-co"


@pytest.fixture
def world(tmp_path, sandbox, smtp_server, webhook_receiver):
    db = TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")
    with db.engine().begin() as conn:
        registry.register(conn, COMPANY, "Held GmbH")
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
            result = dg.materialize([raw_employees, *org_assets, teammeter_sync], resources=resources,
                                    instance=instance, partition_key=COMPANY)
            assert result.success

        def tick(self, cursor):
            with dg.build_sensor_context(instance=instance, cursor=cursor,
                                         resources={"data_team_alerts": alerts, "teammeter_db": db}) as context:
                held_back_alerts(context)
                return context.cursor

    return World()


STAFF = [person(str(n), "Col", f"League {n}", email=f"c{n}@acme.example") for n in range(3, 9)]
SHARED = [person("1", "Zoë", "Copy", email="same@acme.example"), person("2", "Jonas", "Paste", email="same@acme.example")]
FIXED = [person("1", "Zoë", "Copy", email="zoe@acme.example"), person("2", "Jonas", "Paste", email="jonas@acme.example")]


def test_alerts_once_per_held_back_person_without_addresses(world, smtp_server, webhook_receiver):
    world.sync(SHARED + STAFF)
    cursor = world.tick(None)
    assert len(smtp_server.messages) == 1
    _, message = smtp_server.messages[0]
    assert "held-co" in message["Subject"] and "2 people held back" in message["Subject"]
    body = message.get_content()
    assert "1 | Zoë Copy | duplicate_email | email | address shared with 2" in body
    assert "@" not in body.replace("data-team@", "")
    (payload,) = webhook_receiver.payloads
    assert payload["kind"] == "held_back" and [p["employee_id"] for p in payload["new_people"]] == ["1", "2"]

    world.sync(SHARED + STAFF)  # still held back: no new alert
    cursor = world.tick(cursor)
    assert len(smtp_server.messages) == 1

    world.sync(FIXED + STAFF)  # released
    cursor = world.tick(cursor)
    world.sync(SHARED + STAFF)  # held back again: reported again
    world.tick(cursor)
    assert len(smtp_server.messages) == 2
