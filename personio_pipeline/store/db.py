"""Engine creation and schema migration for the Teammeter database (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions (a test keeps them equal). A run checks the
# database against it without loading alembic and every migration script: that costs a
# short run of a small company more than its own work.
HEAD_REVISION = "0013"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str) -> sa.Engine:
    """An engine with the settings the sync relies on (FKs and WAL on SQLite, psycopg 3 on Postgres)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: a failed statement's error names no person (names, addresses) in logs,
    # run failures or sync_runs.
    engine = sa.create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def company_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that takes SQLite's write lock at BEGIN, so a concurrent sync waits
    (busy_timeout) instead of failing on a stale snapshot; on PostgreSQL a plain transaction,
    serialised by `registry.lock`."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def alembic_config(engine: sa.Engine | None) -> Config:
    from alembic.config import Config  # lazy: only migrating needs alembic (see HEAD_REVISION)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


# pg_advisory_lock key of schema upgrades: one upgrade at a time per PostgreSQL database, however
# many deploy hooks, init containers or operators start one together.
MIGRATION_LOCK_KEY = 7_310_427_001
UPGRADE_COMMAND = "personio-pipeline db upgrade"


class SchemaNotCurrentError(RuntimeError):
    """The database is not at the revision this code was written for."""


def head_revision() -> str:
    """The newest migration this code ships."""
    return HEAD_REVISION


def shipped_revisions() -> set[str]:
    """Every migration this code ships, read from the scripts."""
    from alembic.script import ScriptDirectory  # lazy: only migrating needs alembic (see HEAD_REVISION)

    return {script.revision for script in ScriptDirectory.from_config(alembic_config(None)).walk_revisions()}


def current_revision(engine: sa.Engine) -> str | None:
    """The database's migration revision; None for an empty database. Read as alembic keeps it
    (one row in `alembic_version`); more than one row (branches) is not this project's schema."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    if len(versions) > 1:
        raise SchemaNotCurrentError(f"The Teammeter database has several migration heads: {sorted(versions)}")
    return versions[0] if versions else None


def migrate(engine: sa.Engine) -> str | None:
    """Bring the schema to the newest migration; returns the revision found before (None: an
    empty database). Safe to call at once from many processes: on PostgreSQL they take turns on
    an advisory lock, and each one after the first finds the schema at head and does nothing."""
    from alembic import command  # lazy: only migrating needs alembic (see HEAD_REVISION)

    if engine.dialect.name != "postgresql":
        before = current_revision(engine)
        command.upgrade(alembic_config(engine), "head")
        return before
    with engine.connect() as lock:
        lock.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
        lock.commit()
        try:
            before = current_revision(engine)
            command.upgrade(alembic_config(engine), "head")
            return before
        finally:
            lock.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
            lock.commit()


def ensure_current(engine: sa.Engine) -> None:
    """Fail at once, naming the deploy step, when the database is not at this code's revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        state = "has no Teammeter schema yet"
    else:
        newer = current not in shipped_revisions()
        state = f"is at revision {current}" + (" (newer than this code: deploy the newer code)" if newer else "")
    raise SchemaNotCurrentError(
        f"The Teammeter database {where} {state}; this code needs revision {head}. "
        f"Remedy: run `{UPGRADE_COMMAND}` (the deploy step) against it, then start the run again."
    )


@lru_cache(maxsize=8)
def migrated_engine(url: str) -> sa.Engine:
    """One ready engine per URL per process. The embedded SQLite default migrates itself (so
    `make demo` is one command); a server database is migrated only by `personio-pipeline db
    upgrade`, the deploy step, and anything else fails fast while it is behind."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        migrate(engine)
    else:
        ensure_current(engine)
    return engine


def as_utc(value: datetime) -> datetime:
    """Aware UTC. SQLite keeps a timestamp's wall-clock digits only and hands them back naive, so
    every writer stores UTC and every reader reads naive values as UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
