"""Dagster's SQLite event log, holding one connection per database file for the process.

`SqliteEventLogStorage` creates an engine, connects, commits and disposes for every event a run
writes and every query a step makes (one run's database plus the index database for asset and
check events). A company sync writes ~115 events: on the embedded default that was ~1.2 s of a
2.3 s run at 1,000 people (bench/operator.py, docs/performance.md). This storage is the same
storage with each database's connection kept (the most recently used `MAX_HELD` of them) and
`synchronous=NORMAL` under the WAL journal Dagster's SQLite databases use: a committed event
survives the process crashing; only a power cut may lose the last ones. Dagster's own lock
already serialises every use of the storage in a process, so one connection per file suffices.
Set as `event_log_storage` in `dagster_local.yaml`; the deployment's PostgreSQL twin is
`instance_storage.PooledPostgresEventLogStorage`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster import Field, StringSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS  # as Dagster's own storage waits
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import StaticPool

MAX_HELD = 8  # a run worker needs two (its run, the index); the daemon and the UI follow a few runs at once


class HeldSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage keeping each database's connection (see the module docstring)."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._held: OrderedDict[str, sa.Engine] = OrderedDict()
        super().__init__(base_dir or default_base_dir(), inst_data)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> HeldSqliteEventLogStorage:
        return cls(base_dir=config_value.get("base_dir"), inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            engine = self._held.get(shard)
            if engine is None:
                engine = self._engine_for(shard)
                self._held[shard] = engine
                while len(self._held) > MAX_HELD:
                    self._held.popitem(last=False)[1].dispose()
            else:
                self._held.move_to_end(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def _engine_for(self, shard: str) -> sa.Engine:
        engine = sa.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        sa.event.listen(engine, "connect", _synchronous_normal)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    def _release_all(self) -> None:
        with self._db_lock:
            while self._held:
                self._held.popitem()[1].dispose()

    def wipe(self) -> None:
        self._release_all()  # the files are deleted: no connection may outlive them
        super().wipe()

    def upgrade(self) -> None:
        self._release_all()
        super().upgrade()

    def dispose(self) -> None:
        self._release_all()
        super().dispose()


def default_base_dir() -> str:
    """Where Dagster's default SQLite storage keeps run event logs: `$DAGSTER_HOME/history/runs`."""
    return os.path.join(os.environ["DAGSTER_HOME"], "history", "runs")


def _synchronous_normal(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
