"""Dagster's PostgreSQL event log, holding its connections instead of opening one per query.

`dagster_postgres.PostgresEventLogStorage` uses no connection pool: every event a run writes and
every query a step makes (a company partition's existence is checked several times per step,
each time with a look at the catalogue for the partitions table) opens a new PostgreSQL
connection, which costs the server a backend process each time. A company run writes ~100
events and makes as many queries again, so a fleet of short runs spends a good part of its CPU
on connections (bench/run_worker_profile.py, README "Performance").

This storage is the same storage with a small pool per process (`pool_size` connections kept,
`max_overflow` more while threads need them, checked before use so a restarted server costs one
retry, not a failed run) and the catalogue answer "this table exists" remembered for the
process: Dagster's tables are created by `dagster instance migrate` and never dropped under a
running instance. Used by deploy/dagster.yaml as `event_log_storage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import Field, IntSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.storage.config import pg_config
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# A run worker writes from one thread; the daemon's threads (sensors, schedules, run queue) share
# one instance, so a few may need a connection at once.
DEFAULT_POOL_SIZE = 1
DEFAULT_MAX_OVERFLOW = 8
RECYCLE_SECONDS = 3600  # reconnect hourly: a long-lived daemon never keeps a stale server session


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """PostgresEventLogStorage with a per-process connection pool (see the module docstring)."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=RECYCLE_SECONDS,
            pool_pre_ping=True,
        )
        self._tables_present: set[str] = set()

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            **pg_config(),
            "pool_size": Field(IntSource, is_required=False, default_value=DEFAULT_POOL_SIZE),
            "max_overflow": Field(IntSource, is_required=False, default_value=DEFAULT_MAX_OVERFLOW),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
            pool_size=config_value.get("pool_size", DEFAULT_POOL_SIZE),
            max_overflow=config_value.get("max_overflow", DEFAULT_MAX_OVERFLOW),
        )

    def has_table(self, table_name: str) -> bool:
        """Asked before every partition lookup; a table once present stays present."""
        if table_name in self._tables_present:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
