"""The connection sensor and the daily schedule, evaluated with Dagster's test contexts against
the sandbox's Vault endpoints and a real SQLite Teammeter database."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from personio_pipeline.companies import connection_health, registry
from personio_pipeline.defs.lifecycle.connection_sensor import connection_sensor
from personio_pipeline.defs.lifecycle.schedules import daily_sync
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import ApideckResource, DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.store.schema import organisations
from personio_pipeline_tests.support.settings import TEST_API_KEY, TEST_APP_ID


@pytest.fixture
def db(tmp_path):
    return TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")


@pytest.fixture
def apideck(sandbox):
    return ApideckResource(api_key=TEST_API_KEY, app_id=TEST_APP_ID, base_url=sandbox.url)


def register(db, *consumer_ids):
    with db.engine().begin() as conn:
        for consumer_id in consumer_ids:
            registry.register(conn, consumer_id, consumer_id.upper())


def state_of(db, consumer_id):
    with db.engine().connect() as conn:
        return registry.get(conn, consumer_id).connection_state


def tick(instance, apideck, db, alerts=None):
    alerts = alerts or DataTeamAlerts(mailer=Mailer())
    resources = {"apideck": apideck, "teammeter_db": db, "data_team_alerts": alerts}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return connection_sensor(context)


def test_connection_sensor_adds_the_partition_only_when_callable(sandbox, apideck, db, instance):
    register(db, "new-co", "broken-co")
    sandbox.set_connection("new-co", "added")
    sandbox.set_connection("broken-co", "invalid")

    result = tick(instance, apideck, db)
    assert isinstance(result, dg.SkipReason)
    assert state_of(db, "new-co") == "added" and state_of(db, "broken-co") == "invalid"

    sandbox.complete_authorisation("new-co")
    result = tick(instance, apideck, db)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.dynamic_partitions_requests
    assert request.partition_keys == ["new-co"] and request.partitions_def_name == companies.name
    assert result.run_requests in (None, []), "the first sync is launched by hand"
    assert state_of(db, "new-co") == "callable"

    instance.add_dynamic_partitions(companies.name, ["new-co"])
    result = tick(instance, apideck, db)
    assert isinstance(result, dg.SkipReason), "a connected company checked just now is not asked again"
    vault_calls = [e for e in sandbox.request_log if e["path"].startswith("/vault/connections")]
    assert {e["consumer_id"] for e in vault_calls[-1:]} == {"broken-co"}


def test_connection_sensor_records_revoked_and_disabled(sandbox, apideck, db, instance):
    register(db, "gone-co", "off-co")
    sandbox.set_connection("gone-co", "revoked")
    sandbox.set_connection("off-co", "callable", enabled=False)
    tick(instance, apideck, db)
    assert state_of(db, "gone-co") == "revoked"
    assert state_of(db, "off-co") == "disabled"
    assert instance.get_dynamic_partitions(companies.name) == []


def _set_lifecycle(db, consumer_id, *, state="callable", auto_sync=True, synced=True):
    with db.engine().begin() as conn:
        connection_health.set_connection_state(conn, consumer_id, state)
        registry.set_auto_sync(conn, consumer_id, auto_sync)
        if synced:
            conn.execute(
                organisations.update()
                .where(organisations.c.consumer_id == consumer_id)
                .values(first_synced_at=datetime(2026, 11, 1, tzinfo=timezone.utc))
            )


@pytest.mark.dagster_instance(on_disk=True)  # a schedule context needs an instance reference
def test_daily_schedule_requests_one_run_per_due_company(db, instance):
    names = ["due-a", "due-b", "never-synced", "auto-off", "not-connected", "no-partition"]
    register(db, *names)
    instance.add_dynamic_partitions(companies.name, names[:-1])
    _set_lifecycle(db, "due-a")
    _set_lifecycle(db, "due-b")
    _set_lifecycle(db, "never-synced", synced=False)
    _set_lifecycle(db, "auto-off", auto_sync=False)
    _set_lifecycle(db, "not-connected", state="invalid")
    _set_lifecycle(db, "no-partition")

    when = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)  # 05:00 in Berlin
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                   resources={"teammeter_db": db}) as context:
        requests = daily_sync(context)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("due-a", "daily-2026-11-26-due-a"),
        ("due-b", "daily-2026-11-26-due-b"),
    ]
    assert all(r.tags["personio_pipeline/trigger"] == "daily_sync" for r in requests)

    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                   resources={"teammeter_db": db}) as context:
        again = daily_sync(context)
    assert [r.run_key for r in again] == [r.run_key for r in requests], "deterministic run keys"


def test_daily_schedule_defaults():
    assert daily_sync.cron_schedule == "0 * * * *"  # hourly ticks; each company at its own hour
    assert daily_sync.execution_timezone == "UTC"


@pytest.mark.dagster_instance(on_disk=True)
def test_each_company_is_synced_at_its_own_hour_in_its_own_time_zone(db, instance):
    clocks = {"berlin-default": (None, None), "tokyo-6": ("Asia/Tokyo", 6), "new-york-5": ("America/New_York", 5),
              "berlin-22": ("Europe/Berlin", 22)}
    register(db, *clocks)
    instance.add_dynamic_partitions(companies.name, list(clocks))
    for name, (zone, hour) in clocks.items():
        _set_lifecycle(db, name)
        with db.engine().begin() as conn:
            registry.set_clock(conn, name, timezone=zone, sync_hour=hour)

    def due(when: datetime) -> dict[str, str]:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                       resources={"teammeter_db": db}) as context:
            requests = daily_sync(context)
        return {} if isinstance(requests, dg.SkipReason) else {r.partition_key: r.run_key for r in requests}

    # 03:00 UTC: 04:00 in Berlin (default hour 5: not yet), 12:00 in Tokyo, 22:00 the day before in New York.
    assert due(datetime(2026, 11, 26, 3, tzinfo=timezone.utc)) == {
        "tokyo-6": "daily-2026-11-26-tokyo-6", "new-york-5": "daily-2026-11-25-new-york-5"}
    # 04:00 UTC: Berlin's 05:00 comes; the others keep their day's run key (one run per company day).
    assert due(datetime(2026, 11, 26, 4, tzinfo=timezone.utc)) == {
        "berlin-default": "daily-2026-11-26-berlin-default", "tokyo-6": "daily-2026-11-26-tokyo-6",
        "new-york-5": "daily-2026-11-25-new-york-5"}
    # 21:00 UTC is 22:00 in Berlin; New York's new day began at 05:00 UTC, its 05:00 at 10:00 UTC.
    assert due(datetime(2026, 11, 26, 21, tzinfo=timezone.utc))["berlin-22"] == "daily-2026-11-26-berlin-22"
    assert due(datetime(2026, 11, 26, 21, tzinfo=timezone.utc))["new-york-5"] == "daily-2026-11-26-new-york-5"
    assert "new-york-5" not in due(datetime(2026, 11, 26, 9, 59, tzinfo=timezone.utc))


@pytest.mark.dagster_instance(on_disk=True)  # a schedule context needs an instance reference
def test_daily_schedule_skips_when_nothing_is_due(db, instance):
    with dg.build_schedule_context(instance=instance, resources={"teammeter_db": db},
                                   scheduled_execution_time=datetime(2026, 11, 26, 4, tzinfo=timezone.utc)) as context:
        assert isinstance(daily_sync(context), dg.SkipReason)
