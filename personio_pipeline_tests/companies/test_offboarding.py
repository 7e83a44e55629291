"""Removing a company (`tenants remove`), on SQLite and PostgreSQL: the whole removal through
`offboarding.remove_company` with a real Dagster instance and data folder, people deactivated or
purged, the record of who did it, and the connection-health queries the sensor relies on."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import sqlalchemy as sa

from personio_pipeline.apideck.extract import SPOOL_SUFFIX, spool_prefix
from personio_pipeline.companies import connection_health, offboarding, registry
from personio_pipeline.companies.registry import OffboardedCompanyError
from personio_pipeline.companies.removal import RunsInProgressError, remove_company
from personio_pipeline.defs.shared.partitions import companies
from personio_pipeline.notify.mail import FileOutbox, build_message
from personio_pipeline.store.schema import (
    change_log,
    company_offboardings,
    invitations,
    organisations,
    reporting_lines,
    team_memberships,
    teams,
    users,
)
from personio_pipeline_tests.support.people import day_one, sync
from personio_pipeline_tests.support.stores import register, table_rows

T0 = datetime(2026, 3, 1, 5, 0, tzinfo=timezone.utc)
HOSTILE = "ops\x00admin\u202e" + "ø" * 400  # NUL (PostgreSQL refuses it), bidi control, too long

# The removal deletes the company's runs and their compute logs: an instance that keeps them on disk.
pytestmark = pytest.mark.dagster_instance(on_disk=True)


def stored_files(data, company):
    """A stored value of every kind for `company`, as the IO manager, spool and outbox write them."""
    paths = [
        data / "apideck" / "employees" / f"{company}.jsonl",
        data / "org" / "employees" / f"{company}.parquet",
        data / "org" / "teams" / f"{company}.parquet",
        data / "org" / "employees" / f"{company}.model.json",  # check verdicts name people
        data / "teammeter" / "review_report" / f"{company}.html",
        data / "teammeter" / "review_report" / f"{company}.html.key.json",
        data / "teammeter" / "review_report" / f"{company}.people.csv",  # a large company's lists
        data / "apideck" / "employees" / f".{company}.jsonl.{uuid.uuid4().hex}.tmp",
        data / "spool" / f"{spool_prefix(company)}abc123{SPOOL_SUFFIX}",
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"first_name": "Åsa"}\n')
    return paths


def mail(data, to, subject="Your Teammeter invitation"):
    FileOutbox(str(data / "outbox")).send(
        build_message(sender="Teammeter <no-reply@teammeter.test>", to=to, subject=subject, text="Hallo Åsa", to_name="Åsa Ölund")
    )


def add_runs(instance, company, count=2):
    for _ in range(count):
        run = instance.create_run_for_job(
            dg.GraphDefinition(name="noop", node_defs=[]).to_job(), tags={"dagster/partition": company}
        )
        instance.report_run_failed(run)


def active_users(engine, company):
    return table_rows(engine, users, company, "employee_id", active=True)


def test_remove_deactivates_people_and_deletes_only_the_company_files(engine, instance, tmp_path):
    data = tmp_path / "data"
    for company in ("acme", "globex"):
        register(engine, company)
        sync(engine, day_one(), f"{company}-day-1", consumer_id=company, now=T0)
    instance.add_dynamic_partitions(companies.name, ["acme", "globex"])
    acme_files, globex_files = stored_files(data, "acme"), stored_files(data, "globex")
    mail(data, "ada@acme.test")  # 1@acme.test etc. are the factory's addresses; Ada's is below
    mail(data, "1@ACME.test")
    mail(data, "someone@globex.test")
    mail(data, "data-team@teammeter.test", subject="[personio_pipeline] acme: Personio connection revoked")
    mail(data, "data-team@teammeter.test", subject="[personio_pipeline] globex: Personio connection revoked")
    add_runs(instance, "acme")
    add_runs(instance, "globex", 1)
    globex_before = table_rows(engine, users, "globex", "employee_id", "active", "has_access")

    removal = remove_company(engine, instance, data, "acme", requested_by=HOSTILE, now=T0 + timedelta(days=1))

    assert instance.get_dynamic_partitions(companies.name) == ["globex"]
    assert removal.report["partition_removed"] and removal.report["runs_deleted"] == 2
    assert len(instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": "globex"}))) == 1
    assert not any(path.exists() for path in acme_files) and all(path.exists() for path in globex_files)
    files = removal.report["files"]
    assert (files["raw_extracts"]["files"], files["model_files"]["files"], files["spools"]["files"]) == (2, 3, 1)
    assert files["reports"]["files"] == 3  # the page, the key it was built for, a list
    assert files["mail_files"]["files"] == 2  # 1@acme.test (any case) and the alert about acme
    remaining = sorted(p.read_bytes() for p in (data / "outbox").glob("*.eml"))
    assert len(remaining) == 3 and not any(b"[personio_pipeline] acme:" in m for m in remaining)

    assert active_users(engine, "acme") == []
    assert len(table_rows(engine, users, "acme", "employee_id")) == 8, "rows stay"
    assert table_rows(engine, users, "acme", "employee_id", has_access=True) == []
    assert table_rows(engine, team_memberships, "acme", "id", ended_at=None) == []
    assert table_rows(engine, teams, "acme", "id", active=True) == []
    assert len(table_rows(engine, change_log, "acme", "entity_key", run_id=f"offboarding-{removal.record.id}")) == 8
    assert table_rows(engine, users, "globex", "employee_id", "active", "has_access") == globex_before

    with engine.connect() as conn:
        (record,) = offboarding.history(conn, "acme")
        organisation = registry.get(conn, "acme")
    assert record.requested_by.startswith("ops admin") and "\x00" not in record.requested_by
    assert len(record.requested_by) == 255 and record.finished_at is not None and not record.purge_people
    assert record.report == removal.report and record.report["rows_deactivated"]["users"] == 8
    assert organisation.offboarded_at == T0 + timedelta(days=1)
    assert connection_health.daily_sync_blocker(organisation) == "removed on 2026-03-02 05:00Z"

    with pytest.raises(OffboardedCompanyError, match="removed from the pipeline.*tenants add acme"):
        sync(engine, day_one(), "late-run", now=T0 + timedelta(days=2))
    with engine.connect() as conn:
        assert "acme" not in [o.consumer_id for o in connection_health.awaiting_connection(conn)]
        due = connection_health.due_for_connection_check(conn, T0 + timedelta(days=3), timedelta(hours=12), 50)
    assert [o.consumer_id for o in due] == ["globex"]

    with engine.begin() as conn:  # the company returns
        assert not registry.register(conn, "acme", "ACME GmbH").offboarded
    sync(engine, day_one(), "day-back", now=T0 + timedelta(days=4))
    assert len(active_users(engine, "acme")) == 8


def test_purge_people_deletes_the_company_people_data_and_keeps_the_record(engine, instance, tmp_path):
    for company in ("acme", "globex"):
        register(engine, company)
        sync(engine, day_one(), f"{company}-day-1", consumer_id=company, now=T0)
    with engine.begin() as conn:
        acme_id = registry.get(conn, "acme").id
        user_id = conn.execute(sa.select(users.c.id).where(users.c.organisation_id == acme_id)).scalars().first()
        conn.execute(sa.insert(invitations).values(organisation_id=acme_id, user_id=user_id, email="1@acme.test"))
    globex_rows = {t.name: table_rows(engine, t, "globex", "id") for t in (users, change_log, reporting_lines)}

    removal = remove_company(engine, instance, tmp_path / "data", "acme", requested_by="Zoë", purge_people=True, now=T0)

    for table in offboarding.PEOPLE_DATA:
        assert table_rows(engine, table, "acme", "id") == [], table.name
    assert removal.report["rows_deleted"]["users"] == 8 and removal.report["rows_deleted"]["invitations"] == 1
    assert {t.name: table_rows(engine, t, "globex", "id") for t in (users, change_log, reporting_lines)} == globex_rows
    with engine.connect() as conn:
        organisation = registry.get(conn, "acme")
        (record,) = offboarding.history(conn, "acme")
    assert organisation.first_synced_at is None and organisation.verified_at is None
    assert (record.requested_by, record.purge_people) == ("Zoë", True)
    assert table_rows(engine, company_offboardings, "acme", "requested_by") == [("Zoë",)]


def test_runs_in_progress_stop_the_removal_until_they_end(engine, instance, tmp_path):
    register(engine, "acme")
    sync(engine, day_one(), "day-1", now=T0)
    instance.add_dynamic_partitions(companies.name, ["acme"])
    running = instance.create_run_for_job(
        dg.GraphDefinition(name="noop", node_defs=[]).to_job(), tags={"dagster/partition": "acme"}
    )
    instance.handle_new_event(
        dg.EventLogEntry(
            error_info=None, level="debug", user_message="", run_id=running.run_id, timestamp=0.0,
            dagster_event=dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name="noop"),
        )
    )
    with pytest.raises(RunsInProgressError, match=f"{running.run_id}.*tenants remove acme --yes"):
        remove_company(engine, instance, tmp_path, "acme", requested_by="ops", now=T0)
    with engine.connect() as conn:
        assert registry.get(conn, "acme").offboarded, "nothing new starts for it meanwhile"
    assert instance.has_dynamic_partition(companies.name, "acme") and len(active_users(engine, "acme")) == 8

    instance.report_run_failed(instance.get_run_by_id(running.run_id))
    removal = remove_company(engine, instance, tmp_path, "acme", requested_by="ops", now=T0 + timedelta(hours=1))
    with engine.connect() as conn:
        (record,) = offboarding.history(conn, "acme")
    assert record.id == removal.record.id and record.started_at == T0, "the interrupted removal was resumed"
    assert not instance.has_dynamic_partition(companies.name, "acme") and active_users(engine, "acme") == []


def test_connection_checks_are_due_when_stale_failed_or_not_connected(engine):
    from personio_pipeline.companies import sync_runs

    for company in ("fresh", "stale", "failed", "waiting"):
        register(engine, company)
    now = T0 + timedelta(days=1)
    with engine.begin() as conn:
        for company in ("fresh", "stale", "failed"):
            connection_health.record_connection_check(conn, company, "callable", now=now - timedelta(hours=1))
        connection_health.record_connection_check(conn, "stale", "callable", now=now - timedelta(hours=13))
        connection_health.record_connection_check(conn, "waiting", "added", now=now - timedelta(minutes=1))
        sync_runs.record_failure(conn, "failed", "run-1", finished_at=now - timedelta(minutes=30), error=HOSTILE)
        due = connection_health.due_for_connection_check(conn, now, timedelta(hours=12), 50)
    assert [o.consumer_id for o in due] == ["stale", "failed", "waiting"]  # least recently checked first


def test_each_connection_problem_is_alerted_once_and_cleared_by_a_reconnect(engine):
    register(engine, "acme")
    register(engine, "new-co")
    with engine.begin() as conn:
        connection_health.record_connection_check(conn, "acme", "callable", now=T0)
        conn.execute(organisations.update().values(first_synced_at=T0))
        conn.execute(organisations.update().where(
            organisations.c.consumer_id == "new-co").values(first_synced_at=None))
        connection_health.record_connection_check(conn, "new-co", "added", now=T0)  # never connected: no problem
        assert connection_health.unalerted_connection_problems(conn) == []
        connection_health.record_connection_check(conn, "acme", "available", now=T0 + timedelta(hours=1))  # deleted
        (problem,) = connection_health.unalerted_connection_problems(conn)
        assert (problem.consumer_id, problem.connection_changed_at) == ("acme", T0 + timedelta(hours=1))
        connection_health.mark_connection_alerted(conn, "acme", "available")
        assert connection_health.unalerted_connection_problems(conn) == []
        assert connection_health.daily_sync_blocker(registry.get(conn, "acme")).startswith(
            "connection available since 2026-03-01 06:00Z: the customer's admin must re-authorise"
        )
        connection_health.record_connection_check(conn, "acme", "callable", now=T0 + timedelta(hours=2))
        assert registry.get(conn, "acme").connection_alerted_state is None
        assert connection_health.daily_sync_blocker(registry.get(conn, "acme")) is None
        connection_health.record_connection_check(conn, "acme", "revoked", now=T0 + timedelta(hours=3))
        assert [o.connection_state for o in connection_health.unalerted_connection_problems(conn)] == ["revoked"]
