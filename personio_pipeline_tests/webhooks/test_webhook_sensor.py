"""The webhook sensor with Dagster's test context, a real SQLite Teammeter and events delivered
through the real receiver: the debounce (a burst is one run), the in-flight rule, eligibility,
and connection events (state at once, revoked alerts the data team, callable adds the partition)."""

from __future__ import annotations

import time
import uuid

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from personio_pipeline.companies import connection_health, registry
from personio_pipeline.defs.shared.keys import WEBHOOK_BATCH_TAG as BATCH_TAG
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.defs.shared.resources import DataTeamAlerts, Mailer, TeammeterDatabase
from personio_pipeline.defs.webhooks.sensor import webhook_sensor
from personio_pipeline.store.schema import organisations, webhook_events
from personio_pipeline.webhooks.receiver import ReceiverServer, create_app
from personio_pipeline_tests.support.settings import TEST_API_KEY
from personio_pipeline_tests.support.webhook_events import employee_event, signed_request, vault_event

QUIET = 1.0


@pytest.fixture
def db(tmp_path):
    return TeammeterDatabase(url=f"sqlite:///{tmp_path / 'teammeter.sqlite'}")


@pytest.fixture
def post(db):
    with ReceiverServer(create_app(db.engine(), TEST_API_KEY)) as server, httpx.Client(base_url=server.url) as client:
        def send(event: dict) -> httpx.Response:
            body, headers = signed_request(event)
            response = client.post("/webhooks/apideck", content=body, headers=headers)
            assert response.status_code == 200, response.text
            return response
        yield send


@pytest.fixture(autouse=True)
def short_debounce(monkeypatch):
    monkeypatch.setenv("WEBHOOK_DEBOUNCE_QUIET_SECONDS", str(QUIET))
    monkeypatch.setenv("WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS", "30")


def connected_company(db, instance, consumer_id="acme", *, auto_sync=True, first_synced=True):
    with db.engine().begin() as conn:
        registry.register(conn, consumer_id, consumer_id.upper())
        connection_health.set_connection_state(conn, consumer_id, connection_health.CONNECTED)
        registry.set_auto_sync(conn, consumer_id, auto_sync)
        if first_synced:
            conn.execute(sa.update(organisations)
                         .where(organisations.c.consumer_id == consumer_id)
                         .values(first_synced_at=sa.func.now()))
    instance.add_dynamic_partitions(companies.name, [consumer_id])


def tick(instance, db, alerts=None):
    resources = {"teammeter_db": db, "data_team_alerts": alerts or DataTeamAlerts(mailer=Mailer())}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = webhook_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], []
    return list(result.run_requests or []), list(result.dynamic_partitions_requests or [])


def launch(instance, request: dg.RunRequest, status=dg.DagsterRunStatus.NOT_STARTED) -> dg.DagsterRun:
    """What the daemon does with a request: a run of sync_company with the request's tags."""
    tags = {**request.tags, "dagster/partition": request.partition_key}
    return instance.add_run(dg.DagsterRun(job_name="sync_company", run_id=str(uuid.uuid4()), tags=tags, status=status))


def statuses(db) -> dict[str, int]:
    with db.engine().connect() as conn:
        return dict(conn.execute(sa.select(webhook_events.c.status, sa.func.count()).group_by(webhook_events.c.status)).all())


def test_a_burst_of_200_events_for_one_company_is_one_run(db, instance, post):
    connected_company(db, instance)
    for n in range(200):
        post(employee_event("acme", str(n), "hris.employee.updated"))
    assert tick(instance, db) == ([], []), "not while events keep coming"
    time.sleep(QUIET + 0.2)
    (request,), _ = tick(instance, db)
    assert request.partition_key == "acme" and request.tags["personio_pipeline/trigger"] == "webhooks"
    assert request.tags["webhooks/events"] == "200"
    # The daemon has not launched it yet: the next tick asks for the same run key (Dagster runs it once).
    (again,), _ = tick(instance, db)
    assert again.run_key == request.run_key
    run = launch(instance, request)
    assert tick(instance, db) == ([], [])
    assert statuses(db) == {"handled": 200}
    with db.engine().connect() as conn:
        keys = conn.execute(sa.select(sa.distinct(webhook_events.c.run_key))).scalars().all()
    assert keys == [request.run_key] == [run.tags[BATCH_TAG]]


def test_no_run_while_a_sync_of_the_company_is_queued_or_running_then_one(db, instance, post):
    connected_company(db, instance)
    running = instance.add_run(dg.DagsterRun(job_name="sync_company", run_id=str(uuid.uuid4()),
                                             tags={"dagster/partition": "acme"}, status=dg.DagsterRunStatus.STARTED))
    post(employee_event("acme", "1"))
    time.sleep(QUIET + 0.2)
    assert tick(instance, db) == ([], [])
    assert statuses(db) == {"pending": 1}
    instance.delete_run(running.run_id)
    instance.add_run(running.with_status(dg.DagsterRunStatus.SUCCESS))
    (request,), _ = tick(instance, db)
    assert request.partition_key == "acme"


def test_a_steady_trickle_is_synced_at_the_latest_after_the_maximum_wait(db, instance, post, monkeypatch):
    monkeypatch.setenv("WEBHOOK_DEBOUNCE_QUIET_SECONDS", "5")
    monkeypatch.setenv("WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS", "2")
    with pytest.raises(ValueError, match="quiet <= max wait"):
        tick(instance, db)
    monkeypatch.setenv("WEBHOOK_DEBOUNCE_MAX_WAIT_SECONDS", "2.5")
    monkeypatch.setenv("WEBHOOK_DEBOUNCE_QUIET_SECONDS", "2")
    connected_company(db, instance)
    started = time.monotonic()
    requests = []
    while not requests:
        post(employee_event("acme", str(time.monotonic())))
        requests, _ = tick(instance, db)
        time.sleep(0.3)
        assert time.monotonic() - started < 10
    assert 2.5 <= time.monotonic() - started < 6


def test_companies_not_synced_on_events_have_their_events_ignored_with_the_reason(db, instance, post):
    connected_company(db, instance, "paused", auto_sync=False)
    connected_company(db, instance, "fresh", first_synced=False)
    with db.engine().begin() as conn:
        registry.register(conn, "unconnected", "U")
    for company in ("paused", "fresh", "unconnected", "stranger"):
        post(employee_event(company))
    time.sleep(QUIET + 0.2)
    assert tick(instance, db) == ([], [])
    with db.engine().connect() as conn:
        reasons = dict(conn.execute(sa.select(webhook_events.c.consumer_id, webhook_events.c.ignored_reason)).all())
    assert reasons == {"paused": "auto_sync_off", "fresh": "first_sync_pending", "unconnected": "not_connected",
                       "stranger": "unknown_company"}
    assert statuses(db) == {"ignored": 4}
    with db.engine().connect() as conn:
        assert "stranger" not in {o.consumer_id for o in registry.list_all(conn)}


def test_connection_events_change_the_state_at_once_alert_on_revoked_and_add_the_partition(
        db, instance, post, webhook_receiver):
    connected_company(db, instance, "acme")
    with db.engine().begin() as conn:
        registry.register(conn, "newco", "New Co")
    alerts = DataTeamAlerts(webhook_url=webhook_receiver.url, mailer=Mailer())

    post(vault_event("acme", "vault.connection.revoked"))
    post(vault_event("newco", "vault.connection.callable", state="callable"))
    requests, partitions = tick(instance, db, alerts)  # no debounce for connection events
    assert requests == []
    (add,) = partitions
    assert add.partition_keys == ["newco"]
    with db.engine().connect() as conn:
        assert registry.get(conn, "acme").connection_state == "revoked"
        assert registry.get(conn, "newco").connection_state == "callable"
        # The connection sensor alerts once per problem state: it does not repeat this alert.
        assert "acme" not in {o.consumer_id for o in connection_health.unalerted_connection_problems(conn)}
    (alert,) = webhook_receiver.payloads
    assert alert["kind"] == "connection_problem" and alert["consumer_id"] == "acme" and alert["state"] == "revoked"
    assert "personio-pipeline connect acme" in alert["text"]
    assert statuses(db) == {"handled": 2}

    # A revoked company's employee events wait for nothing: they are not synced on events.
    post(employee_event("acme"))
    time.sleep(QUIET + 0.2)
    assert tick(instance, db, alerts) == ([], [])
    assert len(webhook_receiver.payloads) == 1, "alerted once"


def test_an_undelivered_alert_keeps_the_event_pending_for_the_next_tick(db, instance, post, webhook_receiver):
    connected_company(db, instance, "acme")
    alerts = DataTeamAlerts(webhook_url=webhook_receiver.url, mailer=Mailer())
    webhook_receiver.status = 500
    post(vault_event("acme", "vault.connection.revoked"))
    tick(instance, db, alerts)
    with db.engine().connect() as conn:
        assert registry.get(conn, "acme").connection_state == "callable"
    assert statuses(db) == {"pending": 1}
    webhook_receiver.status = 200
    tick(instance, db, alerts)
    assert len(webhook_receiver.payloads) == 1 and statuses(db) == {"handled": 1}
