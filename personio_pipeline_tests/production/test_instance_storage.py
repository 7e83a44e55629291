"""The production event log (deploy/dagster.yaml: PooledPostgresEventLogStorage) on a real
PostgreSQL: a partitioned run of many events and partition lookups reuses a connection or two
instead of opening one per query, what it writes reads back like dagster_postgres's own storage,
and a server that dropped the connection costs a reconnect, not a failed write."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa

from personio_pipeline.runtime.instance_storage import PooledPostgresEventLogStorage
from personio_pipeline_tests.support.production import dagster_pg_env, production_instance

pytestmark = pytest.mark.postgres

companies = dg.DynamicPartitionsDefinition(name="companies")


@dg.asset(partitions_def=companies)
def upstream() -> int:
    return 1


@dg.asset(partitions_def=companies, check_specs=[dg.AssetCheckSpec("positive", asset="downstream")])
def downstream(upstream: int):
    yield dg.Output(upstream + 1)
    yield dg.AssetCheckResult(check_name="positive", passed=True)


@pytest.fixture
def pooled_instance(tmp_path, new_database, monkeypatch, open_instance):
    """The production instance (deploy/dagster.yaml) on a new database, and that database."""
    database = new_database("dagster_pooled")
    for name, value in dagster_pg_env(database).items():
        monkeypatch.setenv(name, value)
    production_instance(tmp_path / "home")
    return open_instance(home=tmp_path / "home"), database


def connections_opened(storage: PooledPostgresEventLogStorage) -> list[int]:
    opened = [0]
    sa.event.listen(storage._engine, "connect", lambda *_: opened.__setitem__(0, opened[0] + 1))
    return opened


def test_a_partitioned_run_reuses_its_connections(pooled_instance):
    instance, _ = pooled_instance
    storage = instance.event_log_storage
    assert isinstance(storage, PooledPostgresEventLogStorage)
    instance.add_dynamic_partitions("companies", ["acme"])
    opened = connections_opened(storage)
    result = dg.materialize([upstream, downstream], instance=instance, partition_key="acme")
    assert result.success
    events = instance.all_logs(result.run_id)
    assert len(events) > 20
    assert opened[0] <= 2, f"{opened[0]} connections for {len(events)} events"
    record = instance.get_latest_materialization_event(dg.AssetKey("downstream"))
    assert record.dagster_event.partition == "acme"


def test_a_dropped_connection_is_replaced_before_the_next_write(pooled_instance):
    instance, database = pooled_instance
    instance.add_dynamic_partitions("companies", ["acme"])
    assert dg.materialize([upstream], instance=instance, partition_key="acme").success
    with psycopg.connect(**{k: v for k, v in database.items() if k != "password" or v}, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database["dbname"],),
        )
    assert dg.materialize([upstream, downstream], instance=instance, partition_key="acme").success
